//! One regression test per class of containerd security advisory that
//! applies to crated today, named for the class.
//!
//! **Needs root** (see `crated_e2e::Daemon`): the checks run as `nobody`
//! (uid/gid 65534) in child processes, and containers run with runc.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crated_e2e::workload::{BusyboxRootfs, Cleanup, bundle_dir, ctr_run_sleeper};
use crated_e2e::{Daemon, test_bytes};

const NOBODY: u32 = 65534;

/// Runs `program args` as `nobody`; returns (succeeded, stderr).
fn as_nobody(program: &str, args: &[&Path]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("running {program} as nobody: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// CVE-2021-41103 (world-readable state): with the daemon's directory open
/// to everyone (as `/var/lib` and `/run` are), `nobody` can read none of a
/// running container's `config.json` (its environment holds secrets), the
/// metadata database, a blob, nor list the ingest directory; root and
/// state are 0700 and a root left 0711 by an earlier version is tightened
/// at startup. Needs root.
#[test]
fn world_readable_state_cve_2021_41103() {
    let daemon = Daemon::builder()
        .prepare(|dir| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
            std::fs::create_dir_all(dir.join("root")).unwrap_or_else(|e| panic!("mkdir: {e}"));
            std::fs::set_permissions(dir.join("root"), std::fs::Permissions::from_mode(0o711))
                .unwrap_or_else(|e| panic!("chmod root: {e}"));
        })
        .start();
    assert_eq!(mode(&daemon.root()), 0o700, "root");
    assert_eq!(mode(&daemon.state()), 0o700, "state");

    let blob = test_bytes(4_000, 7);
    let digest = daemon.ingest("default", "secret-blob", &blob);
    let rootfs = BusyboxRootfs::new();
    let id = format!("cve-41103-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, "default");
    cleanup.add(&id);
    ctr_run_sleeper(&daemon, &rootfs, &id, &["--env", "API_TOKEN=hunter2"])
        .run()
        .ok();

    let content = daemon.root().join("io.containerd.content.v1.content");
    let secrets: Vec<PathBuf> = vec![
        bundle_dir(&daemon, "default", &id).join("config.json"),
        daemon
            .root()
            .join("io.containerd.metadata.v1.bolt")
            .join("meta.db"),
        content
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    ];
    for path in &secrets {
        assert!(path.is_file(), "{} should exist", path.display());
        let (read, stderr) = as_nobody("cat", &[path]);
        assert!(!read, "nobody read {}", path.display());
        assert!(stderr.contains("Permission denied"), "{stderr}");
    }
    let ingest = content.join("ingest");
    assert!(ingest.is_dir());
    let (listed, stderr) = as_nobody("ls", &[&ingest]);
    assert!(!listed, "nobody listed {}", ingest.display());
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(mode(&bundle_dir(&daemon, "default", &id)), 0o700, "bundle");
    assert_eq!(
        mode(&bundle_dir(&daemon, "default", &id).join("config.json")),
        0o600,
        "spec"
    );
}

/// CVE-2020-15257 (shim API reachable from a container): the shim of a
/// host-network container listens on a pathname socket (not an abstract
/// one, which a container in the host's network namespace could reach),
/// and the socket is open to root only (0600, as containerd's; its
/// directory may predate the shim, so its mode is not ours to check).
/// Needs root.
#[test]
fn shim_api_unreachable_from_containers_cve_2020_15257() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let id = format!("cve-15257-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, "default");
    cleanup.add(&id);
    ctr_run_sleeper(&daemon, &rootfs, &id, &["--net-host"])
        .run()
        .ok();
    cleanup.shim(crated_e2e::workload::expect_shim_pid(
        &daemon, "default", &id,
    ));
    let address = std::fs::read_to_string(bundle_dir(&daemon, "default", &id).join("address"))
        .unwrap_or_else(|e| panic!("reading the shim address: {e}"));
    let path = address
        .trim()
        .strip_prefix("unix://")
        .unwrap_or_else(|| panic!("shim address {address:?} is not unix://"));
    assert!(!path.starts_with('@'), "abstract shim socket {path}");
    let socket = Path::new(path);
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(socket).unwrap_or_else(|e| panic!("stat {path}: {e}"));
    assert!(meta.file_type().is_socket(), "{path} is not a socket");
    assert_eq!(mode(socket) & 0o077, 0, "socket {path} is open to others");
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let name = socket
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        !unix
            .lines()
            .any(|l| l.contains(&format!("@{name}")) || l.contains(&format!("@{path}"))),
        "an abstract socket named like the shim's exists"
    );
}
