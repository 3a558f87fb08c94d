//! Copying a snapshot's tree the way containerd's native snapshotter does
//! (continuity's `fs.CopyDir`): file contents, directories, symlinks, hard
//! links (within the tree), device nodes, fifos and sockets, with owners,
//! modes, extended attributes and timestamps.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use crated_core::Result;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;

use super::xattr::{get_xattrs, set_xattrs};
use crate::errors::{errno_error, io_error};

/// Copies everything below `src` into the existing directory `dst`, and
/// `src`'s own owner, mode, attributes and times onto `dst`.
pub(crate) fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    let root_meta = fs::symlink_metadata(src).map_err(|e| io_error("reading", src, e))?;
    // Directories get their metadata last, children before parents, so
    // creating entries does not change the copied times.
    let mut dirs = vec![(src.to_path_buf(), dst.to_path_buf(), root_meta)];
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((from_dir, to_dir)) = stack.pop() {
        for entry in fs::read_dir(&from_dir).map_err(|e| io_error("listing", &from_dir, e))? {
            let entry = entry.map_err(|e| io_error("listing", &from_dir, e))?;
            let from = entry.path();
            let to = to_dir.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(|e| io_error("reading", &from, e))?;
            if meta.is_dir() {
                fs::create_dir(&to).map_err(|e| io_error("creating directory", &to, e))?;
                dirs.push((from.clone(), to.clone(), meta));
                stack.push((from, to));
                continue;
            }
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    fs::hard_link(first, &to).map_err(|e| {
                        io_error(&format!("linking {} to", first.display()), &to, e)
                    })?;
                    continue;
                }
                links.insert(key, to.clone());
            }
            copy_entry(&from, &to, &meta)?;
            copy_metadata(&from, &to, &meta)?;
        }
    }
    for (from, to, meta) in dirs.iter().rev() {
        copy_metadata(from, to, meta)?;
    }
    Ok(())
}

/// Creates `to` as a copy of the non-directory `from`.
fn copy_entry(from: &Path, to: &Path, meta: &Metadata) -> Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        fs::copy(from, to)
            .map_err(|e| io_error(&format!("copying {} to", from.display()), to, e))?;
        return Ok(());
    }
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(|e| io_error("reading link", from, e))?;
        return symlink(&target, to).map_err(|e| io_error("creating symlink", to, e));
    }
    let kind = if ft.is_char_device() {
        SFlag::S_IFCHR
    } else if ft.is_block_device() {
        SFlag::S_IFBLK
    } else if ft.is_fifo() {
        SFlag::S_IFIFO
    } else {
        SFlag::S_IFSOCK
    };
    let perm = Mode::from_bits_truncate(meta.mode() & 0o7777);
    mknod(to, kind, perm, meta.rdev()).map_err(|e| errno_error("creating node", to, e))
}

/// Gives `to` the owner, mode, extended attributes and times of `from`.
fn copy_metadata(from: &Path, to: &Path, meta: &Metadata) -> Result<()> {
    lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| io_error("changing owner of", to, e))?;
    let is_symlink = meta.file_type().is_symlink();
    if !is_symlink {
        // After chown, which clears set-id bits.
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| io_error("setting permissions of", to, e))?;
    }
    match get_xattrs(from) {
        Ok(attrs) => {
            for (name, e) in set_xattrs(to, &attrs) {
                tracing::debug!(path = %to.display(), ?name, error = %e, "copying xattr");
            }
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => {}
        Err(e) => return Err(io_error("reading extended attributes of", from, e)),
    }
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| errno_error("setting times of", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_tree_with_links_modes_and_times() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("d")).unwrap();
        fs::write(s.join("d/f"), "data").unwrap();
        fs::set_permissions(s.join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(s.join("d/f"), s.join("hl")).unwrap();
        symlink("d/f", s.join("sl")).unwrap();
        mknod(
            &s.join("fifo"),
            SFlag::S_IFIFO,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        fs::set_permissions(s.join("d"), fs::Permissions::from_mode(0o710)).unwrap();

        copy_dir(s, dst.path()).unwrap();

        let d = dst.path();
        assert_eq!(fs::read_to_string(d.join("d/f")).unwrap(), "data");
        let f = fs::metadata(d.join("d/f")).unwrap();
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(f.ino(), fs::metadata(d.join("hl")).unwrap().ino());
        assert_eq!(fs::read_link(d.join("sl")).unwrap(), PathBuf::from("d/f"));
        assert!(
            fs::symlink_metadata(d.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        let (a, b) = (
            fs::metadata(s.join("d")).unwrap(),
            fs::metadata(d.join("d")).unwrap(),
        );
        assert_eq!(b.mode() & 0o7777, 0o710);
        assert_eq!((a.mtime(), a.mtime_nsec()), (b.mtime(), b.mtime_nsec()));
    }
}
