//! Filesystem changes to apply to a directory, and a comparison of two
//! trees — the suite's version of continuity's `fstest`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, mknod};

use super::Failure;
use crate::fsutil::{get_xattrs, set_xattrs};

/// One change to a tree. Paths are relative to the tree's root (a leading
/// `/` is ignored).
#[derive(Debug, Clone)]
pub enum Op {
    /// Writes a file with `content` and gives it `mode`.
    CreateFile(String, Vec<u8>, u32),
    /// Creates a directory (and missing parents) and gives it `mode`.
    CreateDir(String, u32),
    /// Removes a path and everything below it.
    RemoveAll(String),
    /// Changes the owner of a path (not following symlinks).
    Chown(String, u32, u32),
    /// Changes the mode of a path.
    Chmod(String, u32),
    /// Hard-links the first path as the second.
    Link(String, String),
    /// Creates a symlink at the second path pointing to the first.
    Symlink(String, String),
    /// Renames the first path to the second.
    Rename(String, String),
    /// Creates a character device with this mode and device number.
    CharDevice(String, u32, u64),
    /// Creates a fifo with this mode.
    Fifo(String, u32),
    /// Sets an extended attribute (name, value).
    SetXattr(String, String, Vec<u8>),
}

/// [`Op::CreateFile`].
pub fn create_file(path: impl Into<String>, content: impl Into<Vec<u8>>, mode: u32) -> Op {
    Op::CreateFile(path.into(), content.into(), mode)
}

/// [`Op::CreateDir`].
pub fn create_dir(path: impl Into<String>, mode: u32) -> Op {
    Op::CreateDir(path.into(), mode)
}

/// [`Op::RemoveAll`].
pub fn remove_all(path: impl Into<String>) -> Op {
    Op::RemoveAll(path.into())
}

/// [`Op::Chown`].
pub fn chown(path: impl Into<String>, uid: u32, gid: u32) -> Op {
    Op::Chown(path.into(), uid, gid)
}

/// [`Op::Link`].
pub fn link(old: impl Into<String>, new: impl Into<String>) -> Op {
    Op::Link(old.into(), new.into())
}

/// [`Op::Symlink`].
pub fn symlink_to(target: impl Into<String>, link: impl Into<String>) -> Op {
    Op::Symlink(target.into(), link.into())
}

/// [`Op::Rename`].
pub fn rename(from: impl Into<String>, to: impl Into<String>) -> Op {
    Op::Rename(from.into(), to.into())
}

/// A sequence of changes.
#[derive(Debug, Clone, Default)]
pub struct Applier(pub Vec<Op>);

fn at(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

impl Applier {
    /// These changes followed by `other`'s.
    pub fn then(&self, other: &Applier) -> Applier {
        Applier(self.0.iter().chain(&other.0).cloned().collect())
    }

    /// Applies every change below `root`, in order.
    pub fn apply(&self, root: &Path) -> io::Result<()> {
        for op in &self.0 {
            apply_one(root, op).map_err(|e| io::Error::new(e.kind(), format!("{op:?}: {e}")))?;
        }
        Ok(())
    }
}

fn apply_one(root: &Path, op: &Op) -> io::Result<()> {
    let chmod = |p: &Path, mode: u32| fs::set_permissions(p, fs::Permissions::from_mode(mode));
    match op {
        Op::CreateFile(p, content, mode) => {
            fs::write(at(root, p), content)?;
            chmod(&at(root, p), *mode)
        }
        Op::CreateDir(p, mode) => {
            fs::create_dir_all(at(root, p))?;
            chmod(&at(root, p), *mode)
        }
        Op::RemoveAll(p) => {
            let path = at(root, p);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(path),
                Ok(_) => fs::remove_file(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::Chown(p, uid, gid) => lchown(at(root, p), Some(*uid), Some(*gid)),
        Op::Chmod(p, mode) => chmod(&at(root, p), *mode),
        Op::Link(old, new) => fs::hard_link(at(root, old), at(root, new)),
        Op::Symlink(target, link) => symlink(target, at(root, link)),
        Op::Rename(from, to) => rename_like_mv(&at(root, from), &at(root, to)),
        Op::CharDevice(p, mode, dev) => mknod(
            &at(root, p),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(*mode),
            *dev,
        )
        .map_err(io::Error::from),
        Op::Fifo(p, mode) => mknod(
            &at(root, p),
            SFlag::S_IFIFO,
            Mode::from_bits_truncate(*mode),
            0,
        )
        .map_err(io::Error::from),
        Op::SetXattr(p, name, value) => {
            let attrs = [(OsString::from(name), value.clone())];
            match set_xattrs(&at(root, p), &attrs).pop() {
                Some((_, e)) => Err(e),
                None => Ok(()),
            }
        }
    }
}

/// rename(2), falling back to copy and delete on `EXDEV` as `mv` does:
/// overlayfs without `redirect_dir` refuses to rename directories that
/// come from a lower layer.
fn rename_like_mv(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            let meta = fs::symlink_metadata(from)?;
            if !meta.is_dir() {
                return Err(e);
            }
            fs::create_dir(to)?;
            crate::fsutil::copy_dir(from, to).map_err(|e| io::Error::other(e.to_string()))?;
            fs::remove_dir_all(from)
        }
        other => other,
    }
}

/// What is compared of one entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    rdev: u64,
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Extended attributes an overlay mount hides or the system adds.
fn compared_xattr(name: &OsString) -> bool {
    let n = name.to_string_lossy();
    !n.starts_with("trusted.overlay.") && !n.starts_with("security.")
}

fn entry(path: &Path, meta: &fs::Metadata) -> io::Result<Entry> {
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "char device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    };
    let mut xattrs: Vec<_> = get_xattrs(path)?
        .into_iter()
        .filter(|(n, _)| compared_xattr(n))
        .collect();
    xattrs.sort();
    Ok(Entry {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: if ft.is_char_device() || ft.is_block_device() {
            meta.rdev()
        } else {
            0
        },
        content: if ft.is_file() {
            Some(fs::read(path)?)
        } else {
            None
        },
        link: if ft.is_symlink() {
            Some(fs::read_link(path)?)
        } else {
            None
        },
        xattrs,
    })
}

/// Every entry below `root` (not `root` itself) with its inode.
fn scan(root: &Path) -> io::Result<BTreeMap<PathBuf, (Entry, u64)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel))? {
            let e = e?;
            let child = rel.join(e.file_name());
            let meta = fs::symlink_metadata(e.path())?;
            if meta.is_dir() {
                stack.push(child.clone());
            }
            let entry = entry(&e.path(), &meta)?;
            out.insert(child, (entry, meta.ino()));
        }
    }
    Ok(out)
}

/// Checks that the trees at `expected` and `actual` hold the same entries
/// with the same type, mode, owner, content, link target, device number,
/// extended attributes and hard-link grouping.
pub fn check_directory_equal(expected: &Path, actual: &Path) -> Result<(), Failure> {
    let want = scan(expected)
        .map_err(|e| Failure::new(format!("scanning {}: {e}", expected.display())))?;
    let got =
        scan(actual).map_err(|e| Failure::new(format!("scanning {}: {e}", actual.display())))?;
    let mut diffs = Vec::new();
    for (path, (w, _)) in &want {
        match got.get(path) {
            None => diffs.push(format!("{} missing", path.display())),
            Some((g, _)) if g != w => {
                diffs.push(format!("{}: want {w:?}, got {g:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        diffs.push(format!("{} unexpected", path.display()));
    }
    let mut groups: HashMap<u64, &PathBuf> = HashMap::new();
    for (path, (w, ino)) in &want {
        if w.kind == "directory" {
            continue;
        }
        match groups.get(ino) {
            Some(first) => {
                if got.get(*first).map(|g| g.1) != got.get(path).map(|g| g.1) {
                    diffs.push(format!(
                        "{} is no longer a hard link of {}",
                        path.display(),
                        first.display()
                    ));
                }
            }
            None => {
                groups.insert(*ino, path);
            }
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    diffs.truncate(10);
    Err(Failure::new(format!(
        "{} differs from {}: {}",
        actual.display(),
        expected.display(),
        diffs.join("; ")
    )))
}
