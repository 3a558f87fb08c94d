//! Turning changes into tar entries (containerd's `ChangeWriter`): parent
//! directories before their entries, hardlinks by inode, whiteouts.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crated_core::Result;

use super::DiffStats;
use super::node::Node;
use super::tarwriter::{self, Header, TarWriter};
use crate::error::IoContext;

/// How an entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Add,
    Modify,
    /// Unchanged, but reported because it shares an inode with others.
    Unmodified,
}

pub(crate) struct ChangeWriter<W: Write> {
    tw: TarWriter<W>,
    source: PathBuf,
    whiteouts: u64,
    inode_src: HashMap<(u64, u64), Vec<u8>>,
    inode_refs: HashMap<(u64, u64), Vec<Vec<u8>>>,
    added_dirs: HashSet<Vec<u8>>,
}

impl<W: Write> ChangeWriter<W> {
    pub(crate) fn new(writer: W, source: &Path) -> Self {
        ChangeWriter {
            tw: TarWriter::new(writer),
            source: source.to_path_buf(),
            whiteouts: 0,
            inode_src: HashMap::new(),
            inode_refs: HashMap::new(),
            added_dirs: HashSet::new(),
        }
    }

    /// Records the deletion of `rel` as `.wh.<name>` beside it.
    pub(crate) fn whiteout(&mut self, rel: &[u8]) -> Result<()> {
        let (dir, base) = split(rel);
        let mut name = dir.to_vec();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(b".wh.");
        name.extend_from_slice(base);
        self.marker(name)
    }

    /// Marks the directory `rel` opaque.
    pub(crate) fn opaque(&mut self, rel: &[u8]) -> Result<()> {
        let mut name = rel.to_vec();
        name.extend_from_slice(b"/.wh..wh..opq");
        self.marker(name)
    }

    fn marker(&mut self, name: Vec<u8>) -> Result<()> {
        self.include_parents(&name, false)?;
        let h = Header {
            name,
            typeflag: tarwriter::REGULAR,
            ..Header::default()
        };
        self.whiteouts += 1;
        self.tw.write(&h, None)
    }

    /// Writes `node`, found at `rel`, as changed in the way `kind` says.
    pub(crate) fn change(&mut self, kind: ChangeKind, rel: &[u8], node: &Node) -> Result<()> {
        let ft = node.md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let (typeflag, link) = if ft.is_dir() {
            (tarwriter::DIR, Vec::new())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&node.path)
                .ctx(|| format!("readlink {}", node.path.display()))?;
            (tarwriter::SYMLINK, target.as_os_str().as_bytes().to_vec())
        } else if ft.is_char_device() {
            (tarwriter::CHAR, Vec::new())
        } else if ft.is_block_device() {
            (tarwriter::BLOCKDEV, Vec::new())
        } else if ft.is_fifo() {
            (tarwriter::FIFO, Vec::new())
        } else {
            (tarwriter::REGULAR, Vec::new())
        };
        let mut h = Header {
            name: rel.to_vec(),
            typeflag,
            mode: node.md.mode() & 0o7777,
            uid: u64::from(node.md.uid()),
            gid: u64::from(node.md.gid()),
            size: if typeflag == tarwriter::REGULAR {
                node.md.size()
            } else {
                0
            },
            mtime: node.md.mtime(),
            link,
            dev: dev_numbers(node.md.rdev()),
            xattrs: Vec::new(),
        };
        if ft.is_dir() {
            h.name.push(b'/');
        }
        let mut extra_links = Vec::new();
        if node.is_linked() {
            let inode = node.inode();
            if let Some(src) = self.inode_src.get(&inode) {
                h.typeflag = tarwriter::HARDLINK;
                h.link = src.clone();
                h.size = 0;
            } else if kind == ChangeKind::Unmodified {
                self.inode_refs.entry(inode).or_default().push(h.name);
                return Ok(());
            } else {
                self.inode_src.insert(inode, h.name.clone());
                extra_links = self.inode_refs.remove(&inode).unwrap_or_default();
            }
        } else if kind == ChangeKind::Unmodified {
            return Ok(());
        }
        h.xattrs = node.layer_xattrs()?;
        self.include_parents(&h.name, ft.is_dir())?;
        if h.typeflag == tarwriter::REGULAR && h.size > 0 {
            let mut file = File::options()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&node.path)
                .ctx(|| format!("opening {}", node.path.display()))?;
            self.tw.write(&h, Some(&mut file))?;
        } else {
            self.tw.write(&h, None)?;
        }
        if !extra_links.is_empty() {
            let source = h.name.clone();
            for extra in extra_links {
                h.name = extra;
                h.typeflag = tarwriter::HARDLINK;
                h.link = source.clone();
                h.size = 0;
                self.include_parents(&h.name, false)?;
                self.tw.write(&h, None)?;
            }
        }
        Ok(())
    }

    /// Writes the parent directory of `name` (and its parents) unless
    /// already written.
    fn include_parents(&mut self, name: &[u8], is_dir: bool) -> Result<()> {
        let trimmed = name.strip_suffix(b"/").unwrap_or(name);
        let (parent, _) = split(trimmed);
        if !parent.is_empty() && !self.added_dirs.contains(parent) {
            let parent = parent.to_vec();
            self.added_dirs.insert(parent.clone());
            let path = self.source.join(std::ffi::OsStr::from_bytes(&parent));
            let node = Node::lstat(path)?;
            self.change(ChangeKind::Modify, &parent, &node)?;
        }
        if is_dir {
            self.added_dirs.insert(trimmed.to_vec());
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<DiffStats> {
        let entries = self.tw.entries;
        let (_, diff_id, size) = self.tw.finish()?;
        Ok(DiffStats {
            diff_id,
            size,
            entries,
            whiteouts: self.whiteouts,
        })
    }
}

/// `(dir, base)` of a relative path; `dir` is empty at the top.
fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// Major and minor numbers of a Linux `dev_t`.
fn dev_numbers(rdev: u64) -> (u32, u32) {
    (rustix::fs::major(rdev), rustix::fs::minor(rdev))
}
