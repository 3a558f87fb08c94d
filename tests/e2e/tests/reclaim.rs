//! Disk is given back: the writable layer of a deleted container (`ctr run
//! --rm`, `ctr snapshots rm`) is removed from the overlayfs snapshotter by
//! the collection its removal triggers, and a restart reclaims snapshot
//! directories that have no record (as containerd marks a snapshotter dirty
//! on every remove and cleans it in the next collection).
//!
//! **Needs root** (containers run with runc; see `crated_e2e::Daemon`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_e2e::workload::{BusyboxRootfs, Cleanup, import_image};
use crated_e2e::{Daemon, wait_until};

const NS: &str = "default";

/// The overlayfs snapshotter's `snapshots/` directory.
fn snapshot_dirs(daemon: &Daemon) -> PathBuf {
    daemon
        .root()
        .join("io.containerd.snapshotter.v1.overlayfs")
        .join("snapshots")
}

/// The entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Bytes of regular files below `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(read) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in read.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += disk_bytes(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// Five `ctr run --rm` that each write two copies of busybox into their
/// writable layer, then a `ctr snapshots prepare` + `rm`: afterwards the
/// snapshot directories and their bytes are back to what the image alone
/// uses. Needs root.
#[test]
fn deleted_containers_give_their_writable_layers_back() {
    let daemon = Daemon::builder().with_gc().start();
    let rootfs = BusyboxRootfs::new();
    let image = "docker.io/library/e2e-reclaim:latest";
    import_image(&daemon, &rootfs, image);
    let dirs = snapshot_dirs(&daemon);
    let before = entries(&dirs);
    let bytes_before = disk_bytes(&dirs);
    let mut cleanup = Cleanup::new(&daemon, NS);
    for i in 0..5 {
        let id = format!("reclaim-{}-{i}", std::process::id());
        cleanup.add(&id);
        daemon
            .ctr_cmd(&[
                "run",
                "--rm",
                image,
                &id,
                "/bin/sh",
                "-c",
                "cat /bin/busybox > /one; cat /bin/busybox > /two",
            ])
            .timeout(Duration::from_secs(60))
            .run()
            .ok();
    }
    let key = format!("reclaim-key-{}", std::process::id());
    daemon.ctr(&["snapshots", "prepare", &key]).ok();
    daemon.ctr(&["snapshots", "rm", &key]).ok();
    let reclaimed = wait_until(Duration::from_secs(30), || entries(&dirs) == before);
    assert!(
        reclaimed,
        "snapshot directories left behind: before {before:?}, now {:?} ({} bytes more)",
        entries(&dirs),
        disk_bytes(&dirs).saturating_sub(bytes_before)
    );
    assert_eq!(disk_bytes(&dirs), bytes_before, "disk usage is back");
}

/// A snapshot directory without a record (as a crash between creating it
/// and recording it leaves) is removed by the first collection after a
/// restart; the image's own layer stays. Needs root.
#[test]
fn a_restart_reclaims_directories_without_a_record() {
    let mut daemon = Daemon::builder().with_gc().start();
    let rootfs = BusyboxRootfs::new();
    let image = "docker.io/library/e2e-reclaim-restart:latest";
    import_image(&daemon, &rootfs, image);
    let dirs = snapshot_dirs(&daemon);
    let before = entries(&dirs);
    daemon.stop();
    let stray = dirs.join("999999");
    std::fs::create_dir_all(stray.join("fs")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(stray.join("fs/junk"), vec![1u8; 100_000])
        .unwrap_or_else(|e| panic!("write: {e}"));
    daemon.restart();
    assert!(
        wait_until(Duration::from_secs(30), || !stray.exists()),
        "the directory without a record is still there: {:?}",
        entries(&dirs)
    );
    assert_eq!(entries(&dirs), before, "recorded snapshots stay");
    daemon
        .ctr(&["snapshots", "ls"])
        .ok()
        .stdout_has("Committed");
}
