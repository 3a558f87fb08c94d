//! Real mounts through `crated_mount`.
//!
//! **These tests need root** (CAP_SYS_ADMIN in the initial mount namespace)
//! and a kernel with overlayfs; they do not skip themselves without it.
//! Every test works in its own temporary directory and a guard unmounts
//! whatever is left below it, even when the test fails.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_mount::{
    Mount, MountError, Mounter, lookup, mount_all, mounts_under, unmount, unmount_all,
    unmount_under, with_readonly_temp_mount, with_temp_mount,
};

/// A temporary directory whose mounts are undone before it is removed.
struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        Ok(Scratch(Some(tempfile::tempdir()?)))
    }

    fn path(&self) -> &Path {
        self.0
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    fn dir(&self, name: &str) -> std::io::Result<PathBuf> {
        let p = self.path().join(name);
        fs::create_dir_all(&p)?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = unmount_under(dir.path())
        {
            eprintln!("cleanup: {e}");
            // Never delete recursively through a mount that stayed.
            let _ = dir.keep();
        }
    }
}

fn bind(source: &Path, options: &[&str]) -> Mount {
    Mount {
        mount_type: "bind".into(),
        source: source.display().to_string(),
        target: String::new(),
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

fn overlay(options: Vec<String>) -> Mount {
    Mount {
        mount_type: "overlay".into(),
        source: "overlay".into(),
        target: String::new(),
        options,
    }
}

#[test]
#[ignore = "requires root"]
fn rw_bind_writes_through() {
    let s = Scratch::new().unwrap();
    let (src, mnt) = (s.dir("src").unwrap(), s.dir("mnt").unwrap());
    mount_all(&[bind(&src, &["rw", "rbind"])], &mnt).unwrap();
    fs::write(mnt.join("f"), "x").unwrap();
    unmount_all(&mnt).unwrap();
    assert_eq!(fs::read_to_string(src.join("f")).unwrap(), "x");
    assert!(!mnt.join("f").exists());
}

#[test]
#[ignore = "requires root"]
fn ro_bind_refuses_writes() {
    let s = Scratch::new().unwrap();
    let (src, mnt) = (s.dir("src").unwrap(), s.dir("mnt").unwrap());
    fs::write(src.join("f"), "x").unwrap();
    mount_all(&[bind(&src, &["ro", "rbind"])], &mnt).unwrap();
    assert_eq!(fs::read_to_string(mnt.join("f")).unwrap(), "x");
    let err = fs::write(mnt.join("g"), "y").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{err}");
    assert!(lookup(&mnt).unwrap().options.split(',').any(|o| o == "ro"));
    unmount(&mnt).unwrap();
}

#[test]
#[ignore = "requires root"]
fn overlay_merges_layers_and_whiteouts_deletions() {
    let s = Scratch::new().unwrap();
    let (l1, l2, upper, work, mnt) = (
        s.dir("l1").unwrap(),
        s.dir("l2").unwrap(),
        s.dir("upper").unwrap(),
        s.dir("work").unwrap(),
        s.dir("mnt").unwrap(),
    );
    fs::write(l1.join("a"), "lower1").unwrap();
    fs::write(l2.join("a"), "lower2").unwrap();
    fs::write(l1.join("b"), "b").unwrap();
    let o = overlay(vec![
        format!("workdir={}", work.display()),
        format!("upperdir={}", upper.display()),
        format!("lowerdir={}:{}", l2.display(), l1.display()),
    ]);
    mount_all(&[o], &mnt).unwrap();
    assert_eq!(fs::read_to_string(mnt.join("a")).unwrap(), "lower2");
    fs::remove_file(mnt.join("b")).unwrap();
    fs::write(mnt.join("c"), "new").unwrap();
    unmount_all(&mnt).unwrap();
    assert_eq!(fs::read_to_string(upper.join("c")).unwrap(), "new");
    assert!(l1.join("b").exists());
    let meta = fs::symlink_metadata(upper.join("b")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_char_device(), "whiteout expected");
}

#[test]
#[ignore = "requires root"]
fn long_lowerdir_is_mounted_from_common_parent() {
    let s = Scratch::new().unwrap();
    let base = s
        .dir("a-rather-long-directory-name-for-the-snapshots/snapshots")
        .unwrap();
    let mut lowers = Vec::new();
    for i in 0..160 {
        let d = base.join(i.to_string()).join("fs");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
        lowers.push(d.display().to_string());
    }
    lowers.reverse();
    let option = format!("lowerdir={}", lowers.join(":"));
    assert!(option.len() > 4096, "test needs an option over a page");
    let mnt = s.dir("mnt").unwrap();
    let cwd = std::env::current_dir().unwrap();
    mount_all(&[overlay(vec!["index=off".into(), option])], &mnt).unwrap();
    assert_eq!(std::env::current_dir().unwrap(), cwd, "cwd must not change");
    assert_eq!(fs::read_to_string(mnt.join("f0")).unwrap(), "0");
    assert_eq!(fs::read_to_string(mnt.join("f159")).unwrap(), "159");
    unmount_all(&mnt).unwrap();
}

#[test]
#[ignore = "requires root"]
fn tmpfs_flags_and_data_reach_the_kernel() {
    let s = Scratch::new().unwrap();
    let mnt = s.dir("mnt").unwrap();
    let m = Mount {
        mount_type: "tmpfs".into(),
        source: "tmpfs".into(),
        target: String::new(),
        options: vec!["nosuid".into(), "nodev".into(), "size=1m".into()],
    };
    mount_all(&[m], &mnt).unwrap();
    let info = lookup(&mnt).unwrap();
    assert_eq!(info.fstype, "tmpfs");
    let opts: Vec<&str> = info.options.split(',').collect();
    assert!(
        opts.contains(&"nosuid") && opts.contains(&"nodev"),
        "{opts:?}"
    );
    assert!(
        info.vfs_options.contains("size=1024k"),
        "{}",
        info.vfs_options
    );
    unmount_all(&mnt).unwrap();
}

#[test]
#[ignore = "requires root"]
fn unmount_all_removes_stacked_mounts() {
    let s = Scratch::new().unwrap();
    let (a, b, mnt) = (
        s.dir("a").unwrap(),
        s.dir("b").unwrap(),
        s.dir("mnt").unwrap(),
    );
    mount_all(&[bind(&a, &["rbind"]), bind(&b, &["rbind"])], &mnt).unwrap();
    assert_eq!(mounts_under(&mnt).unwrap().len(), 2);
    unmount_all(&mnt).unwrap();
    assert!(mounts_under(&mnt).unwrap().is_empty());
}

#[test]
#[ignore = "requires root"]
fn busy_mount_is_detached() {
    let s = Scratch::new().unwrap();
    let (src, mnt) = (s.dir("src").unwrap(), s.dir("mnt").unwrap());
    fs::create_dir(src.join("d")).unwrap();
    mount_all(&[bind(&src, &["rbind"])], &mnt).unwrap();
    // A nested mount makes the outer one busy for a plain umount.
    mount_all(&[bind(&src, &["rbind"])], &mnt.join("d")).unwrap();
    let mounter = Mounter::linux().with_busy_delay(Duration::from_millis(1));
    let file = fs::File::open(mnt.join("d")).unwrap();
    mounter.unmount(&mnt.join("d")).unwrap();
    drop(file);
    unmount_all(&mnt).unwrap();
    assert!(mounts_under(&mnt).unwrap().is_empty());
}

#[test]
#[ignore = "requires root"]
fn temp_mount_is_unmounted_and_removed_even_on_error() {
    let s = Scratch::new().unwrap();
    let src = s.dir("src").unwrap();
    fs::write(src.join("f"), "x").unwrap();
    let mut seen = PathBuf::new();
    let out: Result<String, MountError> = with_temp_mount(&[bind(&src, &["rbind"])], |dir| {
        seen = dir.to_path_buf();
        Ok(fs::read_to_string(dir.join("f")).unwrap())
    });
    assert_eq!(out.unwrap(), "x");
    assert!(!seen.exists(), "temporary mount point left behind");

    let out: Result<(), MountError> = with_temp_mount(&[bind(&src, &["rbind"])], |dir| {
        seen = dir.to_path_buf();
        Err(MountError::Unsupported("callback failed".into()))
    });
    assert!(out.unwrap_err().to_string().contains("callback failed"));
    assert!(!seen.exists());
}

#[test]
#[ignore = "requires root"]
fn readonly_temp_mount_refuses_writes() {
    let s = Scratch::new().unwrap();
    let src = s.dir("src").unwrap();
    let out: Result<ErrorKind, MountError> =
        with_readonly_temp_mount(&[bind(&src, &["rw", "rbind"])], |dir| {
            Ok(fs::write(dir.join("f"), "x").unwrap_err().kind())
        });
    assert_eq!(out.unwrap(), ErrorKind::ReadOnlyFilesystem);
}

#[test]
fn failed_mount_names_what_failed() {
    let s = Scratch::new().unwrap();
    let mnt = s.dir("mnt").unwrap();
    let m = Mount {
        mount_type: "nosuchfs".into(),
        source: "none".into(),
        target: String::new(),
        options: vec![],
    };
    let err = mount_all(&[m], &mnt).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("nosuchfs") && text.contains("mnt"), "{text}");
}
