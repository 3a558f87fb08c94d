//! Computing layers: the changes from one directory to another as an OCI
//! layer tar (containerd's `archive.WriteDiff` over continuity's double
//! walk), or straight from an overlayfs upper directory.

mod compare;
mod node;
mod tarwriter;
mod writer;

use std::io::Write;
use std::path::Path;

use crated_core::{Error, Result};

use node::{Node, children};
use writer::{ChangeKind, ChangeWriter};

/// What a diff wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// `sha256:<hex>` of the uncompressed tar written: the layer's diff id.
    pub diff_id: String,
    /// Bytes of uncompressed tar written.
    pub size: u64,
    /// Tar entries written (PAX headers not counted), whiteouts included.
    pub entries: u64,
    /// Whiteout and opaque entries among them.
    pub whiteouts: u64,
}

/// Writes to `writer` an uncompressed OCI layer tar holding the changes
/// from `lower` to `upper`: added and modified entries (with parents, owner,
/// mode, xattrs, mtime truncated to seconds), hardlinks by inode, and
/// `.wh.<name>` entries for deletions. The walk is sorted, so equal trees
/// give equal bytes. Wrap `writer` in a [`crate::Compressor`] to compress;
/// the returned digest is of the uncompressed stream.
///
/// Like containerd's walking differ, an entry counts as modified when its
/// type, mode, owner, device, xattrs, size or mtime differ; a file whose
/// mtimes both have no sub-second part (as after applying a tar) is also
/// compared by content.
pub fn diff<W: Write>(lower: &Path, upper: &Path, writer: W) -> Result<DiffStats> {
    let mut cw = ChangeWriter::new(writer, upper);
    walk_pair(&mut cw, b"", lower, upper)?;
    cw.finish()
}

/// Writes to `writer` the layer held in an overlayfs upper directory:
/// every entry in it, 0:0 character devices as `.wh.<name>` entries and
/// directories with `trusted.overlay.opaque=y` (or `user.overlay.opaque`)
/// followed by a `.wh..wh..opq` entry. Much cheaper than [`diff`] since the
/// lower layers are never read. Refused (`FailedPrecondition`) for uppers
/// using overlayfs' `redirect_dir` or `metacopy`, which need the lowers.
pub fn diff_overlay_upper<W: Write>(upper: &Path, writer: W) -> Result<DiffStats> {
    let mut cw = ChangeWriter::new(writer, upper);
    walk_upper(&mut cw, b"", upper)?;
    cw.finish()
}

fn child(rel: &[u8], name: &[u8]) -> Vec<u8> {
    crate::names::child(rel, name)
}

fn walk_pair<W: Write>(
    cw: &mut ChangeWriter<W>,
    rel: &[u8],
    lower: &Path,
    upper: &Path,
) -> Result<()> {
    let lower_children = children(lower)?;
    let upper_children = children(upper)?;
    let mut l = lower_children.into_iter().peekable();
    let mut u = upper_children.into_iter().peekable();
    loop {
        let order = match (l.peek(), u.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((name, _)) = l.next() {
                    cw.whiteout(&child(rel, &name))?;
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((name, node)) = u.next() {
                    add_tree(cw, &child(rel, &name), node)?;
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((name, ln)), Some((_, un))) = (l.next(), u.next()) {
                    let crel = child(rel, &name);
                    let same = compare::same_file(&ln, &un)?;
                    if un.is_dir() {
                        if !same || !ln.is_dir() {
                            cw.change(ChangeKind::Modify, &crel, &un)?;
                        }
                        if ln.is_dir() {
                            walk_pair(cw, &crel, &ln.path, &un.path)?;
                        } else {
                            walk_added(cw, &crel, &un.path)?;
                        }
                    } else if same {
                        if un.is_linked() {
                            cw.change(ChangeKind::Unmodified, &crel, &un)?;
                        }
                    } else {
                        cw.change(ChangeKind::Modify, &crel, &un)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn add_tree<W: Write>(cw: &mut ChangeWriter<W>, rel: &[u8], node: Node) -> Result<()> {
    cw.change(ChangeKind::Add, rel, &node)?;
    if node.is_dir() {
        walk_added(cw, rel, &node.path)?;
    }
    Ok(())
}

fn walk_added<W: Write>(cw: &mut ChangeWriter<W>, rel: &[u8], dir: &Path) -> Result<()> {
    for (name, node) in children(dir)? {
        add_tree(cw, &child(rel, &name), node)?;
    }
    Ok(())
}

fn walk_upper<W: Write>(cw: &mut ChangeWriter<W>, rel: &[u8], dir: &Path) -> Result<()> {
    for (name, node) in children(dir)? {
        let crel = child(rel, &name);
        if node.is_overlay_whiteout() {
            cw.whiteout(&crel)?;
            continue;
        }
        let xattrs = node.all_xattrs()?;
        let overlay = |key: &str| {
            xattrs.iter().find_map(|(k, v)| {
                let k = k.as_slice();
                (k.strip_prefix(b"trusted.overlay.")
                    .or_else(|| k.strip_prefix(b"user.overlay.")))
                .filter(|rest| *rest == key.as_bytes())
                .map(|_| v.as_slice())
            })
        };
        for unsupported in ["redirect", "metacopy"] {
            if overlay(unsupported).is_some() {
                return Err(Error::failed_precondition(format!(
                    "{}: overlayfs {unsupported} entries need the lower layers; use diff",
                    node.path.display()
                )));
            }
        }
        let opaque = node.is_dir() && overlay("opaque") == Some(b"y");
        cw.change(ChangeKind::Add, &crel, &node)?;
        if node.is_dir() {
            if opaque {
                cw.opaque(&crel)?;
            }
            walk_upper(cw, &crel, &node.path)?;
        }
    }
    Ok(())
}
