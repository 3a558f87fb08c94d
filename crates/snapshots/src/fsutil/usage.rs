//! Disk usage of a snapshot's own directory, counted like containerd's
//! `fs.DiskUsage`: every inode once (hard links count once), its allocated
//! blocks (`st_blocks * 512`) as the size, the root included.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crated_core::Result;
use crated_core::snapshot::Usage;

use crate::errors::io_error;

/// What was counted so far.
#[derive(Default)]
struct Counter {
    seen: HashSet<(u64, u64)>,
    size: i64,
}

impl Counter {
    fn add(&mut self, meta: &Metadata) {
        if self.seen.insert((meta.dev(), meta.ino())) {
            let blocks = i64::try_from(meta.blocks()).unwrap_or(i64::MAX);
            self.size = self.size.saturating_add(blocks.saturating_mul(512));
        }
    }

    fn usage(&self) -> Usage {
        Usage {
            size: self.size,
            inodes: i64::try_from(self.seen.len()).unwrap_or(i64::MAX),
        }
    }
}

/// Calls `f` with every path at and below `root` (relative path, metadata),
/// without following symlinks.
fn walk(root: &Path, mut f: impl FnMut(&Path, &Metadata)) -> Result<()> {
    let meta = fs::symlink_metadata(root).map_err(|e| io_error("reading", root, e))?;
    f(Path::new(""), &meta);
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).map_err(|e| io_error("listing", &dir, e))? {
            let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| io_error("reading", &path, e))?;
            let child = rel.join(entry.file_name());
            f(&child, &meta);
            if meta.is_dir() {
                stack.push(child);
            }
        }
    }
    Ok(())
}

/// The usage of everything at and below `root`.
pub(crate) fn disk_usage(root: &Path) -> Result<Usage> {
    let mut counter = Counter::default();
    walk(root, |_, meta| counter.add(meta))?;
    Ok(counter.usage())
}

/// The usage of what `dir` adds or changes over `base` (a snapshot of it
/// taken earlier, as btrfs makes): entries missing from `base` or whose
/// type, mode, owner, size, device, mtime or link target differ.
pub(crate) fn diff_usage(base: &Path, dir: &Path) -> Result<Usage> {
    let mut counter = Counter::default();
    walk(dir, |rel, meta| {
        let old = base.join(rel);
        let changed = match fs::symlink_metadata(&old) {
            Ok(old_meta) => differs(&old, &old_meta, &dir.join(rel), meta),
            Err(_) => true,
        };
        if changed {
            counter.add(meta);
        }
    })?;
    Ok(counter.usage())
}

fn differs(old: &Path, a: &Metadata, new: &Path, b: &Metadata) -> bool {
    a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.rdev() != b.rdev()
        || (!a.is_dir() && a.size() != b.size())
        || a.mtime() != b.mtime()
        || a.mtime_nsec() != b.mtime_nsec()
        || (a.file_type().is_symlink() && fs::read_link(old).ok() != fs::read_link(new).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a"), vec![1u8; 10_000]).unwrap();
        fs::hard_link(d.path().join("a"), d.path().join("b")).unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        let u = disk_usage(d.path()).unwrap();
        assert_eq!(u.inodes, 3, "root, a (= b), sub");
        assert!(u.size >= 10_000, "{u:?}");
    }

    #[test]
    fn diff_counts_only_changes() {
        let base = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for d in [base.path(), dir.path()] {
            fs::write(d.join("same"), "x").unwrap();
        }
        fs::write(dir.path().join("new"), "y").unwrap();
        for rel in ["same", ""] {
            let t = fs::symlink_metadata(base.path().join(rel))
                .unwrap()
                .modified()
                .unwrap();
            fs::File::open(dir.path().join(rel))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let u = diff_usage(base.path(), dir.path()).unwrap();
        assert_eq!(u.inodes, 1, "only \"new\": {u:?}");
    }
}
