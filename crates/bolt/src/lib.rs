//! A read-only reader of bbolt files: the format of containerd's
//! `meta.db`, read so that crated can adopt a containerd root without
//! changing it.
//!
//! The file is a sequence of pages. Pages 0 and 1 are meta pages; the
//! valid one (magic, version 2, FNV-1a checksum) with the higher
//! transaction id names the root bucket's page. A bucket is a B+tree of
//! branch and leaf pages; a leaf element flagged as a bucket holds a
//! 16-byte bucket header (root page, sequence), followed by the bucket's
//! own page when the bucket is inline (root page 0). Pages may run over
//! into the following `overflow` pages. Every offset read from the file is
//! bounds-checked, so a corrupt or hostile file is an error, never a
//! panic.
//!
//! Only a consistent snapshot is read: open a copy, or a file no writer has
//! open (containerd stopped), as bbolt's own readers do.

use std::path::{Path, PathBuf};

/// bbolt's magic number.
const MAGIC: u32 = 0xED0C_DAED;
/// The file format version bbolt writes.
const VERSION: u32 = 2;
/// Size of a page header: id, flags, count, overflow.
const PAGE_HEADER: usize = 16;
/// Size of a branch or leaf element.
const ELEMENT: usize = 16;
/// Size of a bucket header: root page and sequence.
const BUCKET_HEADER: usize = 16;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const META_PAGE: u16 = 0x04;
/// A leaf element whose value is a bucket.
const BUCKET_LEAF: u32 = 0x01;
/// Deeper trees than this are taken as corruption (real ones are shallow).
const MAX_DEPTH: usize = 64;

/// What can go wrong reading a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("reading bbolt file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a bbolt database or is damaged.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether `bytes` (the start of a file) look like a bbolt database.
pub fn is_bbolt(bytes: &[u8]) -> bool {
    bytes.len() >= PAGE_HEADER + 8
        && u16_at(bytes, 8) == Some(META_PAGE)
        && u32_at(bytes, PAGE_HEADER) == Some(MAGIC)
}

/// An open database: the file's bytes and its current root.
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    data: Vec<u8>,
    page_size: usize,
    root: u64,
    txid: u64,
}

/// A bucket of a database.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    db: &'a Db,
    root: Root<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Root<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

/// A value in a bucket.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Plain bytes.
    Bytes(&'a [u8]),
    /// A nested bucket.
    Bucket(Bucket<'a>),
}

impl Db {
    /// Reads the file at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        let data = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Db::from_bytes(path, data)
    }

    /// A database over `data` (its file's bytes); `path` names it in errors.
    pub fn from_bytes(path: &Path, data: Vec<u8>) -> Result<Db> {
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if !is_bbolt(&data) {
            return Err(corrupt(
                "not a bbolt database (no meta page with bbolt's magic)".into(),
            ));
        }
        let first_size = u32_at(&data, PAGE_HEADER + 8).unwrap_or(0) as usize;
        if !(512..=1 << 20).contains(&first_size) || !first_size.is_power_of_two() {
            return Err(corrupt(format!("implausible page size {first_size}")));
        }
        let metas = [0, first_size]
            .into_iter()
            .filter_map(|offset| read_meta(&data, offset))
            .max_by_key(|m| m.txid)
            .ok_or_else(|| {
                corrupt("both meta pages are invalid (bad magic, version or checksum)".into())
            })?;
        Ok(Db {
            path: path.to_path_buf(),
            data,
            page_size: metas.page_size,
            root: metas.root,
            txid: metas.txid,
        })
    }

    /// The transaction id of the snapshot being read.
    pub fn txid(&self) -> u64 {
        self.txid
    }

    /// The root bucket (its entries are the top-level buckets).
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: Root::Page(self.root),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The bytes of page `id`, overflow pages included.
    fn page(&self, id: u64) -> Result<&[u8]> {
        let start = usize::try_from(id)
            .ok()
            .and_then(|id| id.checked_mul(self.page_size))
            .ok_or_else(|| self.corrupt(format!("page {id} is out of range")))?;
        let overflow = u32_at(&self.data, start + 12)
            .ok_or_else(|| self.corrupt(format!("page {id} is past the end of the file")))?;
        let len = (overflow as usize + 1)
            .checked_mul(self.page_size)
            .ok_or_else(|| self.corrupt(format!("page {id} overflows")))?;
        self.data
            .get(start..start.saturating_add(len))
            .ok_or_else(|| self.corrupt(format!("page {id} runs past the end of the file")))
    }
}

struct Meta {
    page_size: usize,
    root: u64,
    txid: u64,
}

fn read_meta(data: &[u8], offset: usize) -> Option<Meta> {
    let meta = data.get(offset + PAGE_HEADER..offset + PAGE_HEADER + 64)?;
    if u32_at(meta, 0)? != MAGIC || u32_at(meta, 4)? != VERSION {
        return None;
    }
    if fnv1a64(&meta[..56]) != u64_at(meta, 56)? {
        return None;
    }
    Some(Meta {
        page_size: u32_at(meta, 8)? as usize,
        root: u64_at(meta, 16)?,
        txid: u64_at(meta, 48)?,
    })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Bucket<'a> {
    /// Every key with its value, in key order.
    pub fn entries(&self) -> Result<Vec<(&'a [u8], Value<'a>)>> {
        let mut out = Vec::new();
        let page = match self.root {
            Root::Page(id) => self.db.page(id)?,
            Root::Inline(page) => page,
        };
        self.walk(page, 0, &mut out)?;
        Ok(out)
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value<'a>>> {
        Ok(self
            .entries()?
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v))
    }

    /// The nested bucket `key`, if there is one.
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'a>>> {
        Ok(match self.get(key)? {
            Some(Value::Bucket(b)) => Some(b),
            _ => None,
        })
    }

    /// The bytes of `key`, if it holds bytes.
    pub fn bytes(&self, key: &[u8]) -> Result<Option<&'a [u8]>> {
        Ok(match self.get(key)? {
            Some(Value::Bytes(b)) => Some(b),
            _ => None,
        })
    }

    fn walk(
        &self,
        page: &'a [u8],
        depth: usize,
        out: &mut Vec<(&'a [u8], Value<'a>)>,
    ) -> Result<()> {
        let db = self.db;
        if depth > MAX_DEPTH {
            return Err(db.corrupt("bucket tree deeper than 64 levels"));
        }
        let flags = u16_at(page, 8).ok_or_else(|| db.corrupt("truncated page header"))?;
        let count = u16_at(page, 10).ok_or_else(|| db.corrupt("truncated page header"))? as usize;
        for i in 0..count {
            let elem = PAGE_HEADER + i * ELEMENT;
            let field = |at: usize| {
                u32_at(page, elem + at).ok_or_else(|| db.corrupt("element past its page"))
            };
            if flags & BRANCH_PAGE != 0 {
                let child =
                    u64_at(page, elem + 8).ok_or_else(|| db.corrupt("element past its page"))?;
                let child_page = db.page(child)?;
                self.walk(child_page, depth + 1, out)?;
            } else if flags & LEAF_PAGE != 0 {
                let (leaf_flags, pos, ksize, vsize) = (field(0)?, field(4)?, field(8)?, field(12)?);
                let key_at = elem + pos as usize;
                let key = page
                    .get(key_at..key_at + ksize as usize)
                    .ok_or_else(|| db.corrupt("key past its page"))?;
                let value_at = key_at + ksize as usize;
                let value = page
                    .get(value_at..value_at + vsize as usize)
                    .ok_or_else(|| db.corrupt("value past its page"))?;
                let value = if leaf_flags & BUCKET_LEAF != 0 {
                    Value::Bucket(self.nested(value)?)
                } else {
                    Value::Bytes(value)
                };
                out.push((key, value));
            } else {
                return Err(db.corrupt(format!("page with flags {flags:#x} inside a bucket")));
            }
        }
        Ok(())
    }

    fn nested(&self, header: &'a [u8]) -> Result<Bucket<'a>> {
        let root = u64_at(header, 0).ok_or_else(|| self.db.corrupt("truncated bucket header"))?;
        let root = if root == 0 {
            Root::Inline(
                header
                    .get(BUCKET_HEADER..)
                    .ok_or_else(|| self.db.corrupt("truncated inline bucket"))?,
            )
        } else {
            Root::Page(root)
        };
        Ok(Bucket { db: self.db, root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let path = Path::new("x.db");
        assert!(Db::from_bytes(path, Vec::new()).is_err());
        assert!(Db::from_bytes(path, vec![0u8; 8192]).is_err());
        let mut fake = vec![0u8; 8192];
        fake[8..10].copy_from_slice(&META_PAGE.to_le_bytes());
        fake[16..20].copy_from_slice(&MAGIC.to_le_bytes());
        let err = Db::from_bytes(path, fake).unwrap_err().to_string();
        assert!(err.contains("page size") || err.contains("meta"), "{err}");
    }

    #[test]
    fn fnv_matches_the_reference_vector() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
