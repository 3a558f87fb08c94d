//! The conformance suite against the overlayfs snapshotter, one test per
//! check, plus what is particular to overlayfs (configuration, probes).
//!
//! **These tests need root** and a kernel with overlayfs: the suite mounts
//! what the snapshotter returns. They do not skip themselves; if overlayfs
//! works neither in the system's temporary directory nor in `/var/tmp`
//! they fail saying so. Everything is unmounted and removed even when a
//! check fails.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crated_core::ErrorKind;
use crated_core::snapshot::Snapshotter;
use crated_snapshots::overlay::{self, Overlay, OverlayConfig, UPPERDIR_LABEL};
use crated_snapshots::testsuite;

/// A directory where overlayfs works (upper and work directories need a
/// filesystem that supports them).
fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut why = Vec::new();
        for dir in [std::env::temp_dir(), PathBuf::from("/var/tmp")] {
            match overlay::supported(&dir) {
                Ok(()) => return dir,
                Err(e) => why.push(e.to_string()),
            }
        }
        panic!("overlayfs works nowhere to test it: {}", why.join("; "))
    })
    .clone()
}

fn make(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
    Ok(Box::new(Overlay::new(root, OverlayConfig::default())?))
}

crated_snapshots::snapshotter_suite!(scratch(), make; #[ignore = "requires root"]);

fn make_labelled_sync(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
    let config = OverlayConfig {
        upperdir_label: true,
        sync_remove: true,
        ..OverlayConfig::default()
    };
    Ok(Box::new(Overlay::new(root, config)?))
}

#[test]
#[ignore = "requires root"]
fn suite_subset_with_upperdir_label_and_sync_remove() {
    for name in [
        "basic",
        "update",
        "labels",
        "walk",
        "stat_in_walk",
        "remove",
        "reopen",
        "cleanup",
        "deleted_files_in_child_snapshot",
    ] {
        if let Err(e) = testsuite::run_named(&scratch(), &make_labelled_sync, name) {
            panic!("{name}: {e}");
        }
    }
}

fn overlay_in(dir: &Path, config: OverlayConfig) -> crated_core::Result<Overlay> {
    Overlay::new(dir, config)
}

#[test]
#[ignore = "requires root"]
fn upperdir_label_names_the_upper_directory() {
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    let config = OverlayConfig {
        upperdir_label: true,
        ..OverlayConfig::default()
    };
    let sn = overlay_in(dir.path(), config).unwrap();
    sn.prepare("a", "", Default::default()).unwrap();
    let info = sn.stat("a").unwrap();
    let upper = sn.root().join("snapshots/1/fs");
    assert_eq!(
        info.labels.get(UPPERDIR_LABEL),
        Some(&upper.display().to_string())
    );
    assert!(upper.is_dir());
    let mut walked = Vec::new();
    sn.walk(&mut |i| {
        walked.push(i.labels.get(UPPERDIR_LABEL).cloned());
        Ok(())
    })
    .unwrap();
    assert_eq!(walked, vec![Some(upper.display().to_string())]);
    let plain = tempfile::tempdir_in(scratch()).unwrap();
    let sn = overlay_in(plain.path(), OverlayConfig::default()).unwrap();
    sn.prepare("a", "", Default::default()).unwrap();
    assert!(sn.stat("a").unwrap().labels.is_empty());
}

#[test]
#[ignore = "requires root"]
fn remove_is_deferred_to_cleanup_unless_sync_remove() {
    for sync in [false, true] {
        let dir = tempfile::tempdir_in(scratch()).unwrap();
        let config = OverlayConfig {
            sync_remove: sync,
            ..OverlayConfig::default()
        };
        let sn = overlay_in(dir.path(), config).unwrap();
        sn.prepare("a", "", Default::default()).unwrap();
        let snap = sn.root().join("snapshots/1");
        assert!(snap.is_dir());
        sn.remove("a").unwrap();
        assert_eq!(snap.exists(), !sync, "sync_remove = {sync}");
        sn.cleanup().unwrap();
        assert!(!snap.exists());
    }
}

#[test]
#[ignore = "requires root"]
fn mounts_carry_kernel_and_configured_options() {
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    let config = OverlayConfig {
        mount_options: vec!["volatile".into()],
        ..OverlayConfig::default()
    };
    let sn = overlay_in(dir.path(), config).unwrap();
    let mut want = Vec::new();
    if overlay::supports_index() {
        want.push("index=off".to_string());
    }
    want.push("volatile".to_string());
    assert_eq!(sn.mount_options(), want.as_slice());
    sn.prepare("a", "", Default::default()).unwrap();
    sn.commit("c", "a", Default::default()).unwrap();
    let m = sn.prepare("b", "c", Default::default()).unwrap();
    let snaps = sn.root().join("snapshots");
    let mut opts = want.clone();
    opts.push(format!("workdir={}", snaps.join("2/work").display()));
    opts.push(format!("upperdir={}", snaps.join("2/fs").display()));
    opts.push(format!("lowerdir={}", snaps.join("1/fs").display()));
    assert_eq!(m[0].mount_type, "overlay");
    assert_eq!(m[0].options, opts);
}

#[test]
#[ignore = "requires root"]
fn probe_refuses_an_overlay_upper_on_overlayfs() {
    let base = tempfile::tempdir_in(scratch()).unwrap();
    let sn = overlay_in(&base.path().join("root"), OverlayConfig::default()).unwrap();
    sn.prepare("a", "", Default::default()).unwrap();
    sn.commit("c", "a", Default::default()).unwrap();
    let mounts = sn.prepare("b", "c", Default::default()).unwrap();
    let target = base.path().join("mnt");
    let m = testsuite::Mounted::mount(&mounts, &target).unwrap();
    let err = overlay::supported(&m.path().join("nested")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(
        err.to_string().contains("overlayfs does not work on"),
        "{err}"
    );
    drop(m);
    assert!(overlay::supported(base.path()).is_ok());
}
