//! End-to-end tests of the CRI plugin (`io.containerd.grpc.v1.cri`) on
//! crated's socket, driven through the client library's CRI clients.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_api::cri;
use crated_client::Client;
use crated_e2e::Daemon;
use crated_e2e::client::{connect_with, runtime};

/// A client whose requests may take a minute (pulls, pod starts).
async fn connect(daemon: &Daemon) -> Client {
    connect_with(daemon, Duration::from_secs(60)).await
}

/// A daemon whose CRI plugin reads CNI configs from the test-private `conf_dir`.
fn daemon_with_cni_dir(conf_dir: &std::path::Path) -> Daemon {
    Daemon::start_with_config(&format!(
        "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = {:?}\n",
        conf_dir.display().to_string()
    ))
}

/// Version answers with CRI v1; Introspection lists the plugin. Needs root.
#[test]
fn cri_version_and_introspection() {
    let daemon = Daemon::start();
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let version = client
            .cri_runtime()
            .version(cri::VersionRequest::default())
            .await
            .unwrap_or_else(|e| panic!("CRI Version: {e}"))
            .into_inner();
        assert_eq!(version.version, "0.1.0");
        assert_eq!(version.runtime_api_version, "v1");
        assert_eq!(version.runtime_name, "crated");
        assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));
    });
    let lines = daemon.ctr(&["plugins", "ls"]).ok().lines();
    assert!(
        lines.iter().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&"io.containerd.grpc.v1")
                && cols.get(1) == Some(&"cri")
                && cols.last() == Some(&"ok")
        }),
        "{lines:#?}"
    );
}

/// Status: the runtime is ready; the network is not while the conf dir is
/// empty (with containerd's reason), and becomes ready once a conflist is
/// written there. UpdateRuntimeConfig's pod CIDR shows in the verbose
/// info. RuntimeConfig reports the cgroupfs driver. Needs root.
#[test]
fn cri_status_network_ready_follows_cni_config() {
    let conf = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let daemon = daemon_with_cni_dir(conf.path());
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let mut rt = client.cri_runtime();
        let status = |verbose| cri::StatusRequest { verbose };
        let before = rt
            .status(status(false))
            .await
            .unwrap_or_else(|e| panic!("CRI Status: {e}"))
            .into_inner();
        let conditions = before.status.unwrap_or_default().conditions;
        let find = |c: &[cri::RuntimeCondition], t: &str| {
            c.iter()
                .find(|x| x.r#type == t)
                .cloned()
                .unwrap_or_else(|| panic!("no {t} condition in {c:?}"))
        };
        assert!(find(&conditions, "RuntimeReady").status, "{conditions:?}");
        let network = find(&conditions, "NetworkReady");
        assert!(!network.status, "{network:?}");
        assert_eq!(network.reason, "NetworkPluginNotReady");
        assert!(network.message.contains("no network config"), "{network:?}");

        std::fs::write(
            conf.path().join("10-test.conflist"),
            r#"{"cniVersion":"1.0.0","name":"crated-status-test","plugins":[{"type":"loopback"}]}"#,
        )
        .unwrap_or_else(|e| panic!("writing conflist: {e}"));
        rt.update_runtime_config(cri::UpdateRuntimeConfigRequest {
            runtime_config: Some(cri::RuntimeConfig {
                network_config: Some(cri::NetworkConfig {
                    pod_cidr: "10.88.7.0/24".into(),
                }),
            }),
        })
        .await
        .unwrap_or_else(|e| panic!("UpdateRuntimeConfig: {e}"));
        let after = rt
            .status(status(true))
            .await
            .unwrap_or_else(|e| panic!("CRI Status: {e}"))
            .into_inner();
        let conditions = after.status.clone().unwrap_or_default().conditions;
        assert!(find(&conditions, "NetworkReady").status, "{conditions:?}");
        assert_eq!(
            after.info.get("podCIDR").map(String::as_str),
            Some("10.88.7.0/24")
        );
        let config: serde_json::Value = serde_json::from_str(
            after
                .info
                .get("config")
                .map(String::as_str)
                .unwrap_or("null"),
        )
        .unwrap_or_else(|e| panic!("verbose config is not JSON: {e}"));
        assert_eq!(
            config["cni"]["conf_dir"].as_str(),
            Some(conf.path().display().to_string().as_str())
        );

        let rc = rt
            .runtime_config(cri::RuntimeConfigRequest {})
            .await
            .unwrap_or_else(|e| panic!("RuntimeConfig: {e}"))
            .into_inner();
        assert_eq!(
            rc.linux.map(|l| l.cgroup_driver),
            Some(cri::CgroupDriver::Cgroupfs as i32)
        );
    });
}

/// An RPC not served yet answers Unimplemented naming it, and the daemon
/// keeps serving. Needs root.
#[test]
fn cri_unserved_rpc_is_unimplemented() {
    let daemon = Daemon::start();
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let err = client
            .cri_runtime()
            .checkpoint_container(cri::CheckpointContainerRequest::default())
            .await
            .err()
            .unwrap_or_else(|| panic!("CheckpointContainer succeeded"));
        assert_eq!(err.code(), crated_api::tonic::Code::Unimplemented, "{err}");
        assert!(err.message().contains("CheckpointContainer"), "{err}");
        client
            .cri_runtime()
            .version(cri::VersionRequest::default())
            .await
            .unwrap_or_else(|e| panic!("CRI Version after the refusal: {e}"));
    });
}
