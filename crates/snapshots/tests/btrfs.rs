//! The conformance suite against the btrfs snapshotter, on a btrfs
//! filesystem made for the test in a loop-mounted image file, plus what
//! is particular to btrfs.
//!
//! **These tests need root** and btrfs-progs (`mkfs.btrfs`, `btrfs`) and
//! `losetup`: they make a 512 MiB sparse image under `/var/tmp`, attach it
//! to a loop device and mount it. They do not skip themselves. A guard
//! unmounts everything, detaches the loop device and deletes the image
//! even when a check fails; nothing is killed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crated_core::ErrorKind;
use crated_core::snapshot::{Kind, Snapshotter};
use crated_snapshots::btrfs::{self, Btrfs};
use crated_snapshots::testsuite;

/// A btrfs filesystem on a loop device, torn down on drop.
struct LoopBtrfs {
    dir: Option<tempfile::TempDir>,
    device: Option<String>,
    mnt: PathBuf,
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl LoopBtrfs {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir_in("/var/tmp")?;
        let img = dir.path().join("btrfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt)?;
        let mut fs = LoopBtrfs {
            dir: Some(dir),
            device: None,
            mnt,
        };
        std::fs::File::create(&img)?.set_len(512 << 20)?;
        let img = img.display().to_string();
        run("mkfs.btrfs", &["-q", &img]);
        let device = run("losetup", &["--find", "--show", &img]);
        fs.device = Some(device.clone());
        let mount = crated_core::mount::Mount {
            mount_type: "btrfs".into(),
            source: device,
            target: String::new(),
            options: vec![],
        };
        crated_mount::mount(&mount, &fs.mnt)?;
        Ok(fs)
    }

    fn device(&self) -> &str {
        self.device.as_deref().unwrap_or_default()
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        let unmounted = crated_mount::unmount_under(&self.mnt);
        if let Err(e) = &unmounted {
            eprintln!("unmounting {}: {e}", self.mnt.display());
        }
        if let Some(dev) = self.device.take() {
            let out = Command::new("losetup").args(["-d", &dev]).output();
            if !matches!(&out, Ok(o) if o.status.success()) {
                eprintln!("detaching {dev}: {out:?}");
            }
        }
        if let Some(dir) = self.dir.take()
            && unmounted.is_err()
        {
            // Never delete recursively through a mount that stayed.
            let _ = dir.keep();
        }
    }
}

fn make(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
    Ok(Box::new(Btrfs::new(root)?))
}

#[test]
#[ignore = "requires root"]
fn suite_on_loop_mounted_btrfs() {
    let fs = LoopBtrfs::new().unwrap();
    let report = testsuite::run_all(&fs.mnt, &make);
    println!("{report}");
    assert!(report.is_ok(), "{report}");

    // What is particular to btrfs, on the same filesystem.
    let root = fs.mnt.join("particular");
    let sn = Btrfs::new(&root).unwrap();
    assert_eq!(sn.device(), fs.device());
    let m = sn.prepare("a", "", Default::default()).unwrap();
    assert_eq!(m[0].mount_type, "btrfs");
    assert_eq!(m[0].source, sn.device());
    assert!(m[0].options[0].starts_with("subvolid="), "{m:?}");
    assert!(!m[0].read_only());
    sn.commit("c", "a", Default::default()).unwrap();
    assert!(root.join("snapshots/1").is_dir());
    assert!(
        !root.join("active/1").exists(),
        "active subvolume left after commit"
    );
    let v = sn.view("v", "c", Default::default()).unwrap();
    assert!(v[0].read_only());
    assert_ne!(
        v[0].options[0], m[0].options[0],
        "a view is its own subvolume"
    );
    assert_eq!(sn.stat("v").unwrap().kind, Kind::View);
    // A read-only committed subvolume refuses writes.
    assert!(std::fs::write(root.join("snapshots/1/x"), "x").is_err());
}

#[test]
fn refused_off_btrfs() {
    let dir = tempfile::tempdir().unwrap();
    let err = btrfs::supported(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(
        err.to_string().contains("not on a btrfs filesystem"),
        "{err}"
    );
    let err = Btrfs::new(&dir.path().join("root")).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(!dir.path().join("root").exists(), "nothing made off btrfs");
}
