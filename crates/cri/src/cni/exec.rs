//! Running one CNI plugin binary, as the CNI specification defines it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// The CNI operation (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach the container to the network.
    Add,
    /// Check that the attachment is as ADD left it.
    Check,
    /// Detach the container; must succeed when repeated.
    Del,
}

impl Command {
    /// The value of `CNI_COMMAND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Check => "CHECK",
            Command::Del => "DEL",
        }
    }
}

/// Where and for whom a plugin runs: the `CNI_*` environment.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// `CNI_CONTAINERID`: the sandbox id.
    pub container_id: &'a str,
    /// `CNI_NETNS`: the pinned network namespace.
    pub netns: &'a Path,
    /// `CNI_IFNAME`: the interface inside the namespace.
    pub ifname: &'a str,
    /// `CNI_ARGS`: `K=V` pairs joined with `;`.
    pub args: &'a [(String, String)],
    /// `CNI_PATH`: the directories plugins are looked up in.
    pub bin_dirs: &'a [PathBuf],
    /// How long the plugin may run before it is killed.
    pub timeout: Duration,
}

/// A CNI error object, printed on stdout by a failing plugin.
#[derive(Debug, Deserialize)]
struct PluginError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// Finds `plugin_type` in the first of `bin_dirs` that has it.
pub fn find_plugin(plugin_type: &str, bin_dirs: &[PathBuf]) -> Result<PathBuf> {
    bin_dirs
        .iter()
        .map(|dir| dir.join(plugin_type))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::PluginNotFound {
            plugin: plugin_type.to_string(),
            dirs: bin_dirs.to_vec(),
        })
}

/// Runs `plugin_type` with `command`, writing `config` to its stdin, and
/// returns its stdout (the result for ADD, usually empty otherwise).
pub async fn run(
    plugin_type: &str,
    command: Command,
    inv: &Invocation<'_>,
    config: &[u8],
) -> Result<Vec<u8>> {
    let binary = find_plugin(plugin_type, inv.bin_dirs)?;
    let exec_err = |source| Error::Exec {
        plugin: plugin_type.to_string(),
        command: command.as_str(),
        source,
    };
    let cni_path = std::env::join_paths(inv.bin_dirs).map_err(|e| {
        Error::InvalidArgument(format!("CNI bin_dir entries cannot form CNI_PATH: {e}"))
    })?;
    let args = inv
        .args
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    let mut child = tokio::process::Command::new(&binary)
        .env("CNI_COMMAND", command.as_str())
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", args)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(exec_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin that exits without reading its config closes the pipe;
        // its exit status and output then say what happened.
        match stdin.write_all(config).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(exec_err(e)),
        }
    }
    let output = tokio::time::timeout(inv.timeout, child.wait_with_output())
        .await
        .map_err(|_| Error::Timeout {
            plugin: plugin_type.to_string(),
            command: command.as_str(),
            seconds: inv.timeout.as_secs(),
        })?
        .map_err(exec_err)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    Err(plugin_failure(plugin_type, command, &output))
}

fn plugin_failure(plugin_type: &str, command: Command, output: &std::process::Output) -> Error {
    let (code, message) = match serde_json::from_slice::<PluginError>(&output.stdout) {
        Ok(e) if !e.msg.is_empty() => {
            let message = if e.details.is_empty() {
                e.msg
            } else {
                format!("{}; {}", e.msg, e.details)
            };
            (e.code, message)
        }
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let text = if stderr.is_empty() {
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            } else {
                stderr
            };
            (None, format!("{} ({})", text, output.status))
        }
    };
    Error::Plugin {
        plugin: plugin_type.to_string(),
        command: command.as_str(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn script(dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn invocation<'a>(dirs: &'a [PathBuf], args: &'a [(String, String)]) -> Invocation<'a> {
        Invocation {
            container_id: "sandbox1",
            netns: Path::new("/var/run/netns/x"),
            ifname: "eth0",
            args,
            bin_dirs: dirs,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn passes_the_cni_environment_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "echoenv",
            "printf '%s|%s|%s|%s|%s|' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$CNI_NETNS\" \"$CNI_IFNAME\" \"$CNI_ARGS\"; cat",
        );
        let dirs = vec![PathBuf::from("/nonexistent"), dir.path().to_path_buf()];
        let args = vec![
            ("IgnoreUnknown".to_string(), "1".to_string()),
            ("K8S_POD_NAME".to_string(), "web".to_string()),
        ];
        let out = run("echoenv", Command::Add, &invocation(&dirs, &args), b"{}")
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ADD|sandbox1|/var/run/netns/x|eth0|IgnoreUnknown=1;K8S_POD_NAME=web|{}"
        );
    }

    #[tokio::test]
    async fn a_cni_error_object_becomes_the_message() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "fails",
            r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"no IPs left","details":"range 10.0.0.0/30"}'; exit 1"#,
        );
        let dirs = vec![dir.path().to_path_buf()];
        let err = run("fails", Command::Add, &invocation(&dirs, &[]), b"{}")
            .await
            .unwrap_err();
        match &err {
            Error::Plugin { code, message, .. } => {
                assert_eq!(*code, Some(11));
                assert_eq!(message, "no IPs left; range 10.0.0.0/30");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("plugin type=\"fails\" failed (ADD)")
        );
    }

    #[tokio::test]
    async fn a_hung_plugin_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "hangs", "exec sleep 30");
        let dirs = vec![dir.path().to_path_buf()];
        let mut inv = invocation(&dirs, &[]);
        inv.timeout = Duration::from_millis(200);
        let err = run("hangs", Command::Del, &inv, b"{}").await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_missing_plugin_names_the_directories() {
        let err = find_plugin("bridge", &[PathBuf::from("/nonexistent/cni")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\"bridge\"") && text.contains("/nonexistent/cni"),
            "{text}"
        );
    }
}
