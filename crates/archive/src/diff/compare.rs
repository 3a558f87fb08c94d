//! Whether a file is unchanged between the lower and the upper tree
//! (continuity's `sameFile`).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use crated_core::Result;

use super::node::Node;
use crate::error::IoContext;

pub(crate) fn same_file(l: &Node, u: &Node) -> Result<bool> {
    let (a, b) = (&l.md, &u.md);
    if a.dev() == b.dev() && a.ino() == b.ino() {
        return Ok(true);
    }
    if a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid() || a.rdev() != b.rdev() {
        return Ok(false);
    }
    if l.layer_xattrs()? != u.layer_xattrs()? {
        return Ok(false);
    }
    if l.is_dir() {
        return Ok(true);
    }
    if a.size() != b.size() || a.mtime() != b.mtime() {
        return Ok(false);
    }
    if a.mtime_nsec() != b.mtime_nsec() {
        return Ok(false);
    }
    if a.mtime_nsec() != 0 {
        return Ok(true);
    }
    // Both times may have been truncated (applied from a tar): look inside.
    if a.file_type().is_symlink() {
        let t1 = std::fs::read_link(&l.path).ctx(|| format!("readlink {}", l.path.display()))?;
        let t2 = std::fs::read_link(&u.path).ctx(|| format!("readlink {}", u.path.display()))?;
        return Ok(t1 == t2);
    }
    if a.size() == 0 || !a.file_type().is_file() {
        return Ok(true);
    }
    same_content(l, u)
}

fn same_content(l: &Node, u: &Node) -> Result<bool> {
    let open = |n: &Node| File::open(&n.path).ctx(|| format!("opening {}", n.path.display()));
    let (mut f1, mut f2) = (open(l)?, open(u)?);
    let mut b1 = vec![0u8; 128 * 1024];
    let mut b2 = vec![0u8; 128 * 1024];
    loop {
        let n1 = read_full(&mut f1, &mut b1).ctx(|| format!("reading {}", l.path.display()))?;
        let n2 = read_full(&mut f2, &mut b2).ctx(|| format!("reading {}", u.path.display()))?;
        if n1 != n2 || b1[..n1] != b2[..n2] {
            return Ok(false);
        }
        if n1 == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
