//! Shim binaries: finding `containerd-shim-<name>-<version>`, and its
//! `start` and `delete` invocations.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crated_core::{Error, ErrorKind, Result};
use tokio::io::AsyncWriteExt;

use crate::bootstrap::{self, Bootstrap};
use crate::bundle::Bundle;

/// How long a shim's `start` may take.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon addresses a shim is told about.
#[derive(Debug, Clone)]
pub struct DaemonAddresses {
    /// The gRPC socket (`-address`).
    pub grpc: PathBuf,
    /// The ttrpc socket shims publish events to (`TTRPC_ADDRESS`).
    pub ttrpc: PathBuf,
    /// The binary shims run to publish events (`-publish-binary`).
    pub publish_binary: PathBuf,
    /// Whether to pass `-debug`.
    pub debug: bool,
}

/// Maps a runtime name to the shim binary, as containerd does:
/// `io.containerd.runc.v2` → `containerd-shim-runc-v2`, looked up next to
/// the daemon's binary and then on `PATH`; an absolute path is used as is.
pub fn resolve(runtime: &str, configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = configured {
        return Ok(path.to_path_buf());
    }
    if runtime.starts_with('/') {
        return Ok(PathBuf::from(runtime));
    }
    let parts: Vec<&str> = runtime.split('.').collect();
    let name = match parts.as_slice() {
        [a, b, name, version]
            if !name.is_empty() && !version.is_empty() && [*a, *b] == ["io", "containerd"] =>
        {
            format!("containerd-shim-{name}-{version}")
        }
        _ => {
            return Err(Error::invalid_argument(format!(
                "invalid runtime name {runtime}, correct runtime name should be either format like `io.containerd.runc.v2` or a full path to the binary"
            )));
        }
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::not_found(format!(
                "runtime {runtime:?} binary not installed {name:?} (not next to crated nor on PATH)"
            ))
        })
}

fn command(
    binary: &Path,
    bundle: &Bundle,
    daemon: &DaemonAddresses,
    args: &[&str],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("-namespace")
        .arg(&bundle.namespace)
        .arg("-address")
        .arg(&daemon.grpc)
        .arg("-publish-binary")
        .arg(&daemon.publish_binary)
        .arg("-id")
        .arg(&bundle.id);
    if daemon.debug {
        cmd.arg("-debug");
    }
    cmd.args(args)
        .current_dir(&bundle.path)
        .env("TTRPC_ADDRESS", &daemon.ttrpc)
        .env("GRPC_ADDRESS", &daemon.grpc)
        .env("NAMESPACE", &bundle.namespace)
        .env("GOMAXPROCS", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run(
    mut cmd: tokio::process::Command,
    stdin: &[u8],
    what: &str,
    timeout: Duration,
) -> Result<std::process::Output> {
    let mut child = cmd.spawn().map_err(|e| {
        Error::with_source(ErrorKind::Internal, format_args!("{what}: spawning"), e)
    })?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).await.map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format_args!("{what}: writing options to stdin"),
                e,
            )
        })?;
    }
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(Error::with_source(ErrorKind::Internal, what, e)),
        Err(_) => Err(Error::new(
            crated_core::ErrorKind::DeadlineExceeded,
            format!("{what}: no answer within {timeout:?}"),
        )),
    }
}

/// Runs `<shim> start` in the bundle with the task options (a protobuf
/// `Any`, possibly empty) on stdin and returns how to reach the shim.
pub async fn start(
    binary: &Path,
    bundle: &Bundle,
    daemon: &DaemonAddresses,
    options: &[u8],
) -> Result<Bootstrap> {
    let what = format!("starting shim {} for {}", binary.display(), bundle.id);
    let out = run(
        command(binary, bundle, daemon, &["start"]),
        options,
        &what,
        INVOCATION_TIMEOUT,
    )
    .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::failed_precondition(format!(
            "{what}: {} {}{}",
            out.status,
            stdout.trim(),
            stderr.trim()
        )));
    }
    let boot = bootstrap::parse(&stdout).map_err(|e| e.context(&what))?;
    let path = bundle.path.join("shim-binary-path");
    std::fs::write(&path, binary.as_os_str().as_encoded_bytes()).map_err(|e| {
        Error::with_source(
            ErrorKind::Internal,
            format_args!("writing {}", path.display()),
            e,
        )
    })?;
    Ok(boot)
}

/// Runs `<shim> delete` for a shim that died: it kills and deletes what is
/// left of the task, within `timeout`. Returns the raw `DeleteResponse`
/// protobuf it printed.
pub async fn delete(
    binary: &Path,
    bundle: &Bundle,
    daemon: &DaemonAddresses,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let what = format!("cleaning up dead shim of {}", bundle.id);
    let bundle_path = bundle.path.to_string_lossy().into_owned();
    let out = run(
        command(binary, bundle, daemon, &["-bundle", &bundle_path, "delete"]),
        &[],
        &what,
        timeout,
    )
    .await?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "{what}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_resolve_like_containerd() {
        let err = resolve("runc", None).unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::InvalidArgument);
        let err = resolve("io.containerd.nothere.v9", None).unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::NotFound);
        assert!(err.message().contains("containerd-shim-nothere-v9"));
        assert_eq!(
            resolve("/opt/shim", None).unwrap(),
            PathBuf::from("/opt/shim")
        );
        assert_eq!(
            resolve("io.containerd.x.v1", Some(Path::new("/p"))).unwrap(),
            PathBuf::from("/p")
        );
    }
}
