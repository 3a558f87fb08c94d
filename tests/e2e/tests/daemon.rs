//! The daemon itself: its sockets, and how plugins that are disabled,
//! required or failing are handled.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use crated_e2e::{Cmd, Daemon, crated_bin};

/// Waits (briefly: the daemon chmods and chowns right after listening) for
/// `path` to have `expected` (uid, gid, mode), then asserts it.
#[track_caller]
fn assert_socket(path: &Path, expected: (u32, u32, u32)) {
    crated_e2e::wait_until(Duration::from_secs(5), || {
        path.exists() && socket_owner_and_mode(path) == expected
    });
    assert!(path.exists(), "no socket at {}", path.display());
    assert_eq!(socket_owner_and_mode(path), expected, "{}", path.display());
}

fn socket_owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

/// The gRPC socket (owner from `[grpc] uid/gid`) and the ttrpc socket next
/// to it (owner from `[ttrpc]`) are mode 0660. Needs root.
#[test]
fn sockets_have_mode_0660_and_configured_owner() {
    let daemon = Daemon::start();
    assert_socket(&daemon.socket(), (0, 0, 0o660));
    // The ttrpc socket is bound just after the gRPC one, so it may lag the
    // gRPC socket accepting connections by a moment.
    assert_socket(&daemon.dir().join("crated.sock.ttrpc"), (0, 0, 0o660));

    let daemon = Daemon::builder().config_grpc("uid = 0\ngid = 4321").start();
    assert_socket(&daemon.socket(), (0, 4321, 0o660));
}

/// A plugin in `disabled_plugins` is not loaded: it is absent from the
/// plugin list and its service answers Unimplemented. Needs root.
#[test]
fn disabled_plugins_are_not_loaded() {
    let mut daemon = Daemon::builder()
        .config_top(r#"disabled_plugins = ["io.containerd.grpc.v1.leases"]"#)
        .start();
    daemon
        .ctr(&["plugins", "ls", "id==leases"])
        .ok()
        .stdout_lacks("leases");
    daemon
        .ctr(&["leases", "ls"])
        .fails()
        .stderr_has("not implemented");
    daemon.assert_serving();
}

/// A plugin whose init fails is listed with status `error` and its message;
/// the rest of the daemon serves. Here the native snapshotter's directory
/// is taken by a file. (The content and metadata plugins are essential:
/// see `startup.rs`.) Needs root.
#[test]
fn failing_plugin_is_reported_and_daemon_serves() {
    let mut daemon = Daemon::builder()
        .prepare(|dir| {
            let root = dir.join("root");
            std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("mkdir: {e}"));
            std::fs::write(
                root.join("io.containerd.snapshotter.v1.native"),
                "not a directory",
            )
            .unwrap_or_else(|e| panic!("write: {e}"));
        })
        .start();
    let out = daemon.ctr(&["plugins", "ls"]).ok();
    let status = |ty: &str, id: &str| {
        out.lines()
            .iter()
            .find_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.len() == 4 && cols[0] == ty && cols[1] == id).then(|| cols[3].to_string())
            })
            .unwrap_or_else(|| panic!("{ty} {id} not listed: {out}"))
    };
    assert_eq!(status("io.containerd.snapshotter.v1", "native"), "error");
    assert_eq!(status("io.containerd.metadata.v1", "bolt"), "ok");
    assert_eq!(status("io.containerd.grpc.v1", "namespaces"), "ok");
    daemon
        .ctr(&["plugins", "ls", "-d", "id==native"])
        .ok()
        .stdout_has("Error:")
        .stdout_has("io.containerd.snapshotter.v1.native");
    daemon.assert_serving();
    daemon.ctr(&["namespaces", "ls"]).ok();
}

fn write_config(dir: &Path, top: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let config = format!(
        "version = 3\nroot = {:?}\nstate = {:?}\n{top}\n[grpc]\naddress = {:?}\n",
        dir.join("root").display().to_string(),
        dir.join("state").display().to_string(),
        dir.join("crated.sock").display().to_string(),
    );
    std::fs::write(&path, config).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A plugin in `required_plugins` that is disabled, or whose init fails,
/// stops the daemon from starting: it exits non-zero naming the plugin.
/// Needs root.
#[test]
fn required_plugins_must_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = write_config(
        dir.path(),
        "disabled_plugins = [\"io.containerd.grpc.v1.leases\"]\nrequired_plugins = [\"io.containerd.grpc.v1.leases\"]",
    );
    Cmd::new(crated_bin())
        .env("NO_COLOR", "1")
        .args(["-c", config.to_str().unwrap_or_default()])
        .timeout(Duration::from_secs(10))
        .run()
        .fails()
        .stderr_has("io.containerd.grpc.v1.leases");

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::create_dir_all(dir.path().join("root")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(dir.path().join("root/io.containerd.metadata.v1.bolt"), "x")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let config = write_config(
        dir.path(),
        "required_plugins = [\"io.containerd.metadata.v1.bolt\"]",
    );
    Cmd::new(crated_bin())
        .env("NO_COLOR", "1")
        .args(["-c", config.to_str().unwrap_or_default()])
        .timeout(Duration::from_secs(10))
        .run()
        .fails()
        .stderr_has("io.containerd.metadata.v1.bolt");
}

/// SIGTERM stops the daemon cleanly (exit 0) and it starts again on the same
/// directories. Needs root.
#[test]
fn sigterm_stops_cleanly_and_restarts() {
    let mut daemon = Daemon::start();
    let digest = daemon.ingest("default", "r", b"before stop\n");
    daemon.stop();
    daemon.restart();
    daemon.assert_intact("default", &digest, b"before stop\n");
}

/// `[grpc] max_recv_message_size` applies to every service: with a 64 KiB
/// limit a 1 MiB content write (ctr sends 1 MiB chunks) is refused and
/// nothing is committed, a small write still works, and the daemon keeps
/// serving. Needs root.
#[test]
fn grpc_message_size_limit_from_config() {
    let mut daemon = Daemon::builder()
        .config_grpc("max_recv_message_size = 65536")
        .start();
    daemon
        .ctr_stdin(&["content", "ingest", "big"], vec![7u8; 1 << 20])
        .fails();
    daemon
        .ctr_stdin(&["content", "ingest", "small"], b"small blob".to_vec())
        .ok();
    let listed = daemon.ctr(&["content", "ls", "-q"]).ok().stdout();
    assert_eq!(listed.lines().count(), 1, "only the small blob: {listed}");
    daemon.assert_serving();
}
