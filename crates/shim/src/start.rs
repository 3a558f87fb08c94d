//! `start`: derive the shim's socket from containerd's address, the
//! namespace and the grouping id; reuse a shim already serving it, or bind
//! it and re-execute this binary as the server with the socket as its
//! stdin; write `address` and `shim.pid` into the bundle and answer in the
//! form the calling daemon expects.
//!
//! The answer: containerd 2.3+ sends `BootstrapParams` on stdin and gets a
//! `BootstrapResult` (task API v3); every other caller (1.6, 1.7, 2.0–2.2,
//! crated) gets the bare `unix://` address, which they all read as a task
//! API v2 shim — and the shim serves both API versions.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};

use crated_api::ttrpc::bootstrap_api::{BootstrapParams, BootstrapResult};
use crated_api::ttrpc::protobuf::Message;
use sha2::{Digest, Sha256};

use crate::args::Args;
use crate::options::RuncOptions;

/// Where containerd's shims put their sockets.
const SOCKET_DIR: &str = "/run/containerd/s";
/// Annotations that group containers into one shim, in order of precedence.
const GROUP_LABELS: [&str; 2] = [
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];
/// The largest payload read from stdin, as containerd caps it.
const MAX_INPUT: u64 = 10 << 20;

/// Runs `start` and prints the reply.
pub fn run(args: &Args) -> Result<(), String> {
    let mut input = Vec::new();
    // Nothing is piped in when the shim is started by hand from a terminal.
    if !std::io::stdin().is_terminal() {
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_end(&mut input)
            .map_err(|e| format!("reading stdin: {e}"))?;
    }
    let bootstrap = bootstrap_params(&input, args);
    let (address_flag, options, socket_dir) = match &bootstrap {
        Some(p) => (
            p.containerd_grpc_address.clone(),
            bootstrap_options(p),
            p.socket_dir.clone(),
        ),
        None => (args.address.clone(), legacy_options(&input), None),
    };
    let grouping = grouping(args)?;
    let address = match &socket_dir {
        Some(dir) => format!(
            "unix://{}",
            Path::new(dir)
                .join(socket_hash(&address_flag, &args.namespace, &grouping))
                .display()
        ),
        None => socket_address(&address_flag, &args.namespace, &grouping),
    };
    let reply = |address: &str| -> Result<(), String> {
        let out = match &bootstrap {
            Some(_) => {
                let mut r = BootstrapResult::new();
                r.version = 3;
                r.address = address.to_string();
                r.protocol = "ttrpc".into();
                r.write_to_bytes()
                    .map_err(|e| format!("encoding bootstrap result: {e}"))?
            }
            None => address.as_bytes().to_vec(),
        };
        let mut stdout = std::io::stdout();
        stdout
            .write_all(&out)
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("writing reply: {e}"))
    };

    let path = socket_path(&address);
    let listener = match bind(&path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(&path).is_ok() {
                // A shim for this group already serves: share it.
                write_file("address", &address)?;
                return reply(&address);
            }
            remove_socket(&address);
            bind(&path).map_err(|e| format!("create new shim socket {path}: {e}"))?
        }
        Err(e) => return Err(format!("create new shim socket {path}: {e}")),
    };
    let spawned = spawn_server(args, &address_flag, &bootstrap, listener);
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            remove_socket(&address);
            return Err(e);
        }
    };
    write_file("address", &address)?;
    write_file("shim.pid", &pid.to_string())?;
    if !options.shim_cgroup.is_empty() {
        join_cgroup(pid, &options.shim_cgroup)?;
    }
    adjust_oom_score(pid);
    reply(&address)
}

/// `BootstrapParams` on stdin, if this is containerd 2.3+. Runtime options
/// (an `Any`) decode as `BootstrapParams` too but never name this shim.
fn bootstrap_params(input: &[u8], args: &Args) -> Option<BootstrapParams> {
    let p = BootstrapParams::parse_from_bytes(input).ok()?;
    (!input.is_empty() && p.instance_id == args.id && p.namespace == args.namespace).then_some(p)
}

fn legacy_options(input: &[u8]) -> RuncOptions {
    use crated_api::ttrpc::protobuf::well_known_types::any::Any;
    Any::parse_from_bytes(input)
        .ok()
        .and_then(|a| RuncOptions::from_any(&a.type_url, &a.value).ok())
        .unwrap_or_default()
}

fn bootstrap_options(p: &BootstrapParams) -> RuncOptions {
    p.extensions
        .iter()
        .filter_map(|e| e.value.as_ref())
        .find_map(|a| RuncOptions::from_any(&a.type_url, &a.value).ok())
        .unwrap_or_default()
}

/// The grouping id: a group annotation of the bundle's spec, or the id.
fn grouping(args: &Args) -> Result<String, String> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Spec {
        annotations: std::collections::HashMap<String, String>,
    }
    let spec: Spec = match std::fs::read("config.json") {
        Ok(data) => {
            serde_json::from_slice(&data).map_err(|e| format!("parsing config.json: {e}"))?
        }
        Err(e) => return Err(format!("reading config.json in the bundle: {e}")),
    };
    Ok(GROUP_LABELS
        .iter()
        .find_map(|l| spec.annotations.get(*l).cloned())
        .unwrap_or_else(|| args.id.clone()))
}

/// The hex sha256 of containerd's address, namespace and id, joined as a path.
fn socket_hash(address: &str, namespace: &str, id: &str) -> String {
    hex::encode(Sha256::digest(
        clean_join(&[address, namespace, id]).as_bytes(),
    ))
}

/// containerd's `SocketAddress`: `unix:///run/containerd/s/<sha256>`.
pub fn socket_address(address: &str, namespace: &str, id: &str) -> String {
    format!(
        "unix://{SOCKET_DIR}/{}",
        socket_hash(address, namespace, id)
    )
}

/// The filesystem path of a `unix://` address.
pub fn socket_path(address: &str) -> String {
    address
        .strip_prefix("unix://")
        .unwrap_or(address)
        .to_string()
}

/// Removes the socket file of `address`.
pub fn remove_socket(address: &str) {
    if address.starts_with("unix://") {
        let _ = std::fs::remove_file(socket_path(address));
    }
}

/// Go's `filepath.Join`: joins and cleans (`//`, `.`, `..`).
fn clean_join(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let absolute = joined.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !absolute {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn bind(path: &str) -> std::io::Result<UnixListener> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let l = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Re-executes this binary as the server, in the bundle, with the
/// listening socket as its stdin and no stdout/stderr (containerd reads
/// `start`'s output until every writer closes).
fn spawn_server(
    args: &Args,
    address: &str,
    bootstrap: &Option<BootstrapParams>,
    listener: UnixListener,
) -> Result<u32, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the shim binary: {e}"))?;
    let cwd = std::env::current_dir().map_err(|e| format!("finding the bundle: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "-namespace",
        &args.namespace,
        "-id",
        &args.id,
        "-address",
        address,
    ])
    .args(["-publish-binary", &args.publish_binary]);
    if args.debug {
        cmd.arg("-debug");
    }
    if let Some(p) = bootstrap
        && !p.containerd_ttrpc_address.is_empty()
    {
        cmd.env("TTRPC_ADDRESS", &p.containerd_ttrpc_address);
    }
    cmd.current_dir(cwd)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting the shim server: {e}"))?;
    Ok(child.id())
}

/// Writes `name` in the bundle atomically.
fn write_file(name: &str, content: &str) -> Result<(), String> {
    let tmp = format!(".{name}");
    std::fs::write(&tmp, content)
        .and_then(|()| std::fs::rename(&tmp, name))
        .map_err(|e| format!("writing {name} in the bundle: {e}"))
}

/// Moves the server into the cgroup the runtime options name.
fn join_cgroup(pid: u32, cgroup: &str) -> Result<(), String> {
    let rel = cgroup.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let targets: Vec<_> = if crate::cgroup::unified() {
        vec![root.join(rel).join("cgroup.procs")]
    } else {
        std::fs::read_dir(root)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path().join(rel).join("cgroup.procs"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut joined = false;
    for t in targets.iter().filter(|t| t.exists()) {
        std::fs::write(t, pid.to_string())
            .map_err(|e| format!("failed to join cgroup {cgroup}: {e}"))?;
        joined = true;
    }
    if joined {
        Ok(())
    } else {
        Err(format!("failed to load cgroup {cgroup}: no such cgroup"))
    }
}

/// Gives the server containerd's OOM score + 1, so the kernel picks the
/// shim before the daemon. Without CAP_SYS_RESOURCE a score below the
/// current one is refused; the server then keeps the inherited score,
/// which is noted in the bundle's log.
fn adjust_oom_score(pid: u32) {
    let parent = rustix::process::getppid()
        .map(|p| p.as_raw_nonzero().get())
        .unwrap_or(1);
    let Some(score) = std::fs::read_to_string(format!("/proc/{parent}/oom_score_adj"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let want = (score + 1).min(1000);
    if let Err(e) = std::fs::write(format!("/proc/{pid}/oom_score_adj"), want.to_string()) {
        log_to_fifo(&format!(
            "level=warning msg=\"keeping the inherited OOM score of shim {pid}: setting oom_score_adj to {want} failed: {e} (needs CAP_SYS_RESOURCE to go below the current score)\"\n"
        ));
    }
}

/// Best-effort note in the bundle's `log` FIFO (never stdout: that is the reply).
fn log_to_fifo(line: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open("log")
    {
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_address_matches_containerd() {
        // containerd: sha256("/run/containerd/containerd.sock/default/t1").
        let want = hex::encode(Sha256::digest(
            b"/run/containerd/containerd.sock/default/t1",
        ));
        assert_eq!(
            socket_address("/run/containerd/containerd.sock", "default", "t1"),
            format!("unix:///run/containerd/s/{want}")
        );
        assert_eq!(socket_path("unix:///a/b"), "/a/b");
    }

    #[test]
    fn clean_join_is_go_filepath_join() {
        assert_eq!(
            clean_join(&["/run//c.sock/", "ns", "id"]),
            "/run/c.sock/ns/id"
        );
        assert_eq!(clean_join(&["/a/./b/../c", "d"]), "/a/c/d");
        assert_eq!(clean_join(&["", "ns", "id"]), "ns/id");
        assert_eq!(clean_join(&["/..", "x"]), "/x");
    }

    #[test]
    fn runtime_options_on_stdin_are_not_bootstrap_params() {
        use crated_api::ttrpc::protobuf::well_known_types::any::Any;
        let args = Args {
            id: "t1".into(),
            namespace: "default".into(),
            ..Args::default()
        };
        let mut any = Any::new();
        any.type_url = "containerd.runc.v1.Options".into();
        any.value = b"\x32\x04crun".to_vec();
        let bytes = any.write_to_bytes().unwrap();
        assert!(bootstrap_params(&bytes, &args).is_none());
        assert_eq!(legacy_options(&bytes).binary(), "crun");
        assert!(bootstrap_params(b"", &args).is_none());

        let mut p = BootstrapParams::new();
        p.instance_id = "t1".into();
        p.namespace = "default".into();
        p.containerd_grpc_address = "/run/c.sock".into();
        let bytes = p.write_to_bytes().unwrap();
        assert_eq!(
            bootstrap_params(&bytes, &args).map(|p| p.containerd_grpc_address),
            Some("/run/c.sock".into())
        );
    }
}
