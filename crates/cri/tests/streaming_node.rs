//! The streaming server against an independent SPDY/3.1 implementation:
//! node-spdy's transport (npm `spdy-transport`, installed by
//! scripts/install-deps.sh under /var/tmp/crated-test-node, or where
//! CRATED_TEST_NODE_MODULES points).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use crated_cri::streaming::{
    AttachRequest, ExecRequest, ExitStatus, Runtime, StreamIo, StreamServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// exec: stdin reversed to stdout, "warn" to stderr, exit 7.
struct Reverse;

#[async_trait]
impl Runtime for Reverse {
    async fn exec(&self, _req: &ExecRequest, mut io: StreamIo) -> crated_core::Result<ExitStatus> {
        let mut input = Vec::new();
        io.stdin
            .as_mut()
            .unwrap()
            .read_to_end(&mut input)
            .await
            .unwrap();
        input.reverse();
        io.stdout.as_mut().unwrap().write_all(&input).await.unwrap();
        io.stderr
            .as_mut()
            .unwrap()
            .write_all(b"warn")
            .await
            .unwrap();
        Ok(ExitStatus::Code(7))
    }

    async fn attach(&self, _req: &AttachRequest, _io: StreamIo) -> crated_core::Result<()> {
        Err(crated_core::Error::not_implemented(
            "attach is not used here",
        ))
    }

    async fn port_forward(&self, _: &str, _: u16, _: DuplexStream) -> crated_core::Result<()> {
        Err(crated_core::Error::not_implemented(
            "port forward is not used here",
        ))
    }
}

fn node_modules() -> PathBuf {
    let dir = std::env::var_os("CRATED_TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/crated-test-node/node_modules"));
    assert!(
        dir.join("spdy-transport").is_dir(),
        "npm spdy-transport missing in {}: run scripts/install-deps.sh",
        dir.display()
    );
    dir
}

#[tokio::test]
async fn node_spdy_client_runs_an_exec_session() {
    let modules = node_modules();
    let server = StreamServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Reverse))
        .await
        .unwrap();
    let url = server
        .exec_url(ExecRequest {
            container_id: "c1".into(),
            cmd: vec!["rev".into()],
            tty: false,
            stdin: true,
            stdout: true,
            stderr: true,
        })
        .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/spdy_client.js");
    let streams = r#"[{"streamtype":"error"},{"streamtype":"stdin"},{"streamtype":"stdout"},{"streamtype":"stderr"}]"#;
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .args([url.as_str(), "v4.channel.k8s.io", streams, "abc"])
        .env("NODE_PATH", &modules)
        .env(
            "DEBUG",
            std::env::var("CRATED_SPDY_DEBUG").unwrap_or_default(),
        )
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "node client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(got["stdout"], "cba");
    assert_eq!(got["stderr"], "warn");
    let status: serde_json::Value = serde_json::from_str(got["error"].as_str().unwrap()).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "7");
}
