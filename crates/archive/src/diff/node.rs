//! Files met while computing a diff: `lstat` data and the xattrs a layer
//! carries.

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crated_core::Result;

use crate::error::IoContext;
use crate::fsops::list_xattrs_path;

/// A file in one of the compared trees.
pub(crate) struct Node {
    pub path: PathBuf,
    pub md: Metadata,
}

impl Node {
    pub(crate) fn lstat(path: PathBuf) -> Result<Node> {
        let md = std::fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
        Ok(Node { path, md })
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.md.is_dir()
    }

    /// A non-directory with more than one link.
    pub(crate) fn is_linked(&self) -> bool {
        !self.md.is_dir() && self.md.nlink() > 1
    }

    /// An overlayfs whiteout: a 0:0 character device.
    pub(crate) fn is_overlay_whiteout(&self) -> bool {
        self.md.file_type().is_char_device() && self.md.rdev() == 0
    }

    pub(crate) fn inode(&self) -> (u64, u64) {
        (self.md.dev(), self.md.ino())
    }

    /// All xattrs, sorted by name.
    pub(crate) fn all_xattrs(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let list = list_xattrs_path(&self.path)
            .ctx(|| format!("reading xattrs of {}", self.path.display()))?;
        Ok(list.into_iter().map(|(k, v)| (k.into_bytes(), v)).collect())
    }

    /// The xattrs a layer records for this file (see [`layer_xattr`]).
    pub(crate) fn layer_xattrs(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut all = self.all_xattrs()?;
        all.retain(|(k, _)| layer_xattr(k));
        Ok(all)
    }
}

/// Whether an xattr belongs in a layer: everything except `trusted.*`
/// (overlayfs' own state and admin data that apply refuses anyway),
/// `user.overlay.*` (overlayfs state in user-xattr mode) and
/// `security.selinux` (a host's labels).
pub(crate) fn layer_xattr(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.")
        || name.starts_with(b"user.overlay.")
        || name == b"security.selinux")
}

/// The entries of `dir`, sorted by name bytes, with their `lstat` data.
pub(crate) fn children(dir: &Path) -> Result<Vec<(Vec<u8>, Node)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))? {
        let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().as_bytes().to_vec();
        out.push((name, Node::lstat(entry.path())?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
