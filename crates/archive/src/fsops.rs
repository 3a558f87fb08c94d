//! Descriptor-relative filesystem helpers shared by apply and diff.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, Mode, OFlags, Timespec, Timestamps};
use rustix::io::{Errno, Result as SysResult};

/// Flags for descriptors used only to walk directories.
pub(crate) const PATH_DIR: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Flags for directories that are listed or get xattrs.
pub(crate) const READ_DIR: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens `name` in `dir` for reading as a directory, never following a
/// symlink.
pub(crate) fn open_read_dir<Fd: AsFd>(dir: Fd, name: &[u8]) -> SysResult<OwnedFd> {
    rustix::fs::openat(dir, name, READ_DIR, Mode::empty())
}

/// The names in a directory, `.` and `..` excluded, unsorted.
pub(crate) fn list_names<Fd: AsFd>(dir: Fd) -> SysResult<Vec<CString>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Removes `name` in `dir` and, for a directory, everything below it,
/// without following symlinks. A missing `name` is not an error.
pub(crate) fn remove_all_at<Fd: AsFd>(dir: Fd, name: &[u8]) -> SysResult<()> {
    let dir = dir.as_fd();
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    let sub = match open_read_dir(dir, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for child in list_names(&sub)? {
        remove_all_at(&sub, child.as_bytes())?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A path that names `name` inside the directory open as `dir`, for the
/// calls that have no descriptor-relative form (`lsetxattr`, ...). The
/// kernel resolves the descriptor itself, so no symlink above `name` is
/// followed; use it only with the `l*` calls.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(std::ffi::OsStr::from_bytes(name));
    p
}

/// The xattrs of the file open as `fd`; none where the filesystem has no
/// xattr support.
pub(crate) fn list_xattrs_fd<Fd: AsFd>(fd: Fd) -> SysResult<Vec<(CString, Vec<u8>)>> {
    let fd = fd.as_fd();
    read_xattrs(
        || rustix::fs::flistxattr_query(fd),
        |buf| rustix::fs::flistxattr(fd, buf),
        |name| rustix::fs::fgetxattr_query(fd, name),
        |name, buf| rustix::fs::fgetxattr(fd, name, buf),
    )
}

/// The xattrs of `path` itself (a symlink is not followed).
pub(crate) fn list_xattrs_path(path: &Path) -> SysResult<Vec<(CString, Vec<u8>)>> {
    read_xattrs(
        || rustix::fs::llistxattr_query(path),
        |buf| rustix::fs::llistxattr(path, buf),
        |name| rustix::fs::lgetxattr_query(path, name),
        |name, buf| rustix::fs::lgetxattr(path, name, buf),
    )
}

fn read_xattrs(
    list_len: impl Fn() -> SysResult<usize>,
    list: impl Fn(&mut [u8]) -> SysResult<usize>,
    value_len: impl Fn(&CStr) -> SysResult<usize>,
    value: impl Fn(&CStr, &mut [u8]) -> SysResult<usize>,
) -> SysResult<Vec<(CString, Vec<u8>)>> {
    let names = loop {
        let len = match list_len() {
            Ok(0) => return Ok(Vec::new()),
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0u8; len];
        match list(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                break buf;
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = CString::new(name) else {
            continue;
        };
        let data = loop {
            let len = match value_len(&name) {
                Ok(n) => n,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            };
            let mut buf = vec![0u8; len];
            match value(&name, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    break Some(buf);
                }
                Err(Errno::RANGE) => continue,
                Err(Errno::NODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        if let Some(data) = data {
            out.push((name, data));
        }
    }
    out.sort();
    Ok(out)
}

/// Access and modification times for `utimensat`.
pub(crate) fn timestamps(atime: (i64, u32), mtime: (i64, u32)) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: atime.0,
            tv_nsec: atime.1.into(),
        },
        last_modification: Timespec {
            tv_sec: mtime.0,
            tv_nsec: mtime.1.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_trees_without_following_links() {
        let outside = tempfile::tempdir_in("/dev/shm").unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let root = tempfile::tempdir_in("/dev/shm").unwrap();
        let t = root.path().join("t");
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.join("a/link")).unwrap();
        let fd = rustix::fs::open(root.path(), READ_DIR, Mode::empty()).unwrap();
        remove_all_at(&fd, b"t").unwrap();
        remove_all_at(&fd, b"missing").unwrap();
        assert!(!t.exists());
        assert!(outside.path().join("keep").exists());
    }
}
