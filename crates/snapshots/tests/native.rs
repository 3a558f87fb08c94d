//! The conformance suite against the native snapshotter, one test per
//! check, plus what is particular to native.
//!
//! **These tests need root**: the suite mounts what the snapshotter
//! returns (bind mounts) and creates files owned by other users and device
//! nodes. They do not skip themselves without it. Everything is made in
//! temporary directories under the system's temporary directory and
//! unmounted and removed even when a check fails.

use std::path::{Path, PathBuf};

use crated_core::snapshot::{Kind, Snapshotter};
use crated_snapshots::Native;

fn make(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
    Ok(Box::new(Native::new(root)?))
}

fn scratch() -> PathBuf {
    std::env::temp_dir()
}

crated_snapshots::snapshotter_suite!(scratch(), make; #[ignore = "requires root"]);

#[test]
fn mounts_are_rbind_of_own_dir_or_parent_for_views() {
    let dir = tempfile::tempdir().unwrap();
    let sn = Native::new(dir.path()).unwrap();
    let snaps = sn.root().join("snapshots");
    let m = sn.prepare("a", "", Default::default()).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].mount_type, "bind");
    assert_eq!(m[0].source, snaps.join("1").display().to_string());
    assert_eq!(m[0].options, vec!["rbind", "rw"]);
    sn.commit("c", "a", Default::default()).unwrap();
    let v = sn.view("v", "c", Default::default()).unwrap();
    assert_eq!(v[0].source, snaps.join("1").display().to_string());
    assert_eq!(v[0].options, vec!["rbind", "ro"]);
    assert!(!snaps.join("2").exists(), "a view of a parent gets no copy");
    assert_eq!(sn.stat("v").unwrap().kind, Kind::View);
}

#[test]
fn failed_prepare_leaves_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sn = Native::new(dir.path()).unwrap();
    sn.prepare("a", "", Default::default()).unwrap();
    assert!(sn.prepare("a", "", Default::default()).is_err());
    assert!(sn.prepare("b", "missing", Default::default()).is_err());
    let names: Vec<_> = std::fs::read_dir(sn.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["1".to_string()]);
}
