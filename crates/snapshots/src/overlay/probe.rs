//! What the kernel and the root's filesystem support for overlayfs:
//! containerd's `overlayutils`.

use std::fs;
use std::path::Path;

use crated_core::{Error, ErrorKind, Result};
use crated_mount::Mount;
use nix::sys::statfs::{TMPFS_MAGIC, statfs};

use crate::errors::{errno_error, io_error};
use crate::fsutil::{TempDir, ensure_dir, make_dir};

/// Checks that overlayfs works with upper directories in `root`: the
/// filesystem reports `d_type`, and an overlay with two lower directories,
/// an upper and a work directory really mounts there (containerd's
/// `overlayutils.Supported`). The error says why not; the plugin reports
/// it as the reason it skipped.
pub fn supported(root: &Path) -> Result<()> {
    if !root.exists() {
        ensure_dir(root, 0o700)?;
    }
    if !supports_d_type(root)? {
        return Err(Error::failed_precondition(format!(
            "{} does not support d_type; if the backing filesystem is xfs, reformat it with ftype=1",
            root.display()
        )));
    }
    supports_multiple_lowerdir(root)
}

/// Mounts a tiny overlay (two lower directories, upper, work) in a
/// temporary directory under `dir` and unmounts it again.
fn supports_multiple_lowerdir(dir: &Path) -> Result<()> {
    let td = TempDir::new(dir, "multiple-lowerdir-check-", 0o700)?;
    let p = td.path();
    for name in ["lower1", "lower2", "upper", "work", "merged"] {
        make_dir(&p.join(name), 0o755)?;
    }
    let m = Mount {
        mount_type: "overlay".into(),
        source: "overlay".into(),
        target: String::new(),
        options: vec![format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            p.join("lower2").display(),
            p.join("lower1").display(),
            p.join("upper").display(),
            p.join("work").display()
        )],
    };
    let merged = p.join("merged");
    crated_mount::mount(&m, &merged).map_err(|e| {
        Error::with_source(
            ErrorKind::NotImplemented,
            format_args!("overlayfs does not work on {}", dir.display()),
            e,
        )
    })?;
    crated_mount::unmount_all(&merged).map_err(Error::from)
}

/// Whether directory entries in `dir` carry their file type (`d_type`),
/// which overlayfs needs: a file is made and its entry read back.
pub fn supports_d_type(dir: &Path) -> Result<bool> {
    let td = TempDir::new(dir, "d_type-check-", 0o700)?;
    fs::write(td.path().join("f"), b"").map_err(|e| io_error("writing", td.path(), e))?;
    let mut d = nix::dir::Dir::open(
        td.path(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| errno_error("opening", td.path(), e))?;
    for entry in d.iter() {
        let entry = entry.map_err(|e| errno_error("reading", td.path(), e))?;
        if entry.file_name().to_bytes() == b"f" {
            return Ok(entry.file_type().is_some());
        }
    }
    Ok(false)
}

/// Whether the kernel's overlayfs has the `index` parameter, so that
/// `index=off` may be passed.
pub fn supports_index() -> bool {
    Path::new("/sys/module/overlay/parameters/index").exists()
}

/// Whether this process runs in a user namespace other than the initial
/// one.
pub fn running_in_user_ns() -> bool {
    match fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// Whether overlay mounts need `userxattr`: only in a user namespace
/// (kernel 5.11 or later assumed) and never on tmpfs, as containerd's
/// `NeedsUserXAttr` decides on current kernels.
pub fn needs_userxattr(root: &Path) -> bool {
    if !running_in_user_ns() {
        return false;
    }
    !matches!(statfs(root), Ok(s) if s.filesystem_type() == TMPFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_type_is_reported_here() {
        let d = tempfile::tempdir().unwrap();
        assert!(supports_d_type(d.path()).unwrap());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            0,
            "probe cleaned up"
        );
    }

    #[test]
    fn host_namespace_needs_no_userxattr() {
        if !running_in_user_ns() {
            assert!(!needs_userxattr(Path::new("/")));
        }
    }
}
