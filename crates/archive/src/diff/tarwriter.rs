//! A small tar writer for layers: USTAR headers, PAX records where USTAR
//! cannot hold a value (long or non-ASCII names, big ids, sizes and times,
//! xattrs as `SCHILY.xattr.*`), hashing what it writes.

use std::io::{BufWriter, Read, Write};

use crated_core::{Error, ErrorKind, Result};

use crate::digest::HashingWriter;
use crate::error::{IoContext, show};

const BLOCK: usize = 512;
const OUTPUT_BUFFER: usize = 1024 * 1024;
const MAX_OCTAL_8: u64 = 0o7777777;
const MAX_OCTAL_12: u64 = 0o77777777777;

/// Tar type flags.
pub(crate) const REGULAR: u8 = b'0';
pub(crate) const HARDLINK: u8 = b'1';
pub(crate) const SYMLINK: u8 = b'2';
pub(crate) const CHAR: u8 = b'3';
pub(crate) const BLOCKDEV: u8 = b'4';
pub(crate) const DIR: u8 = b'5';
pub(crate) const FIFO: u8 = b'6';
const PAX: u8 = b'x';

/// One entry to write.
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub link: Vec<u8>,
    pub dev: (u32, u32),
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Writes tar entries to `W`, hashing and counting the bytes.
pub(crate) struct TarWriter<W: Write> {
    out: BufWriter<HashingWriter<W>>,
    buf: Vec<u8>,
    pub entries: u64,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(writer: W) -> Self {
        TarWriter {
            out: BufWriter::with_capacity(OUTPUT_BUFFER, HashingWriter::new(writer)),
            buf: vec![0u8; OUTPUT_BUFFER],
            entries: 0,
        }
    }

    /// Writes `h` and, for a regular file, exactly `h.size` bytes of `data`.
    pub(crate) fn write(&mut self, h: &Header, data: Option<&mut dyn Read>) -> Result<()> {
        let what = || format!("writing tar entry {:?}", show(&h.name));
        let mut block = [0u8; BLOCK];
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if let Some((prefix, name)) = split_ustar(&h.name) {
            put(&mut block[345..500], prefix);
            put(&mut block[0..100], name);
        } else {
            pax.push((b"path".to_vec(), h.name.clone()));
            put(&mut block[0..100], &h.name[..h.name.len().min(100)]);
        }
        if h.link.len() > 100 || !h.link.is_ascii() {
            pax.push((b"linkpath".to_vec(), h.link.clone()));
            put(&mut block[157..257], &h.link[..h.link.len().min(100)]);
        } else {
            put(&mut block[157..257], &h.link);
        }
        octal(&mut block[100..108], u64::from(h.mode & 0o7777));
        numeric(&mut block[108..116], h.uid, MAX_OCTAL_8, b"uid", &mut pax);
        numeric(&mut block[116..124], h.gid, MAX_OCTAL_8, b"gid", &mut pax);
        numeric(
            &mut block[124..136],
            h.size,
            MAX_OCTAL_12,
            b"size",
            &mut pax,
        );
        match u64::try_from(h.mtime) {
            Ok(t) => numeric(&mut block[136..148], t, MAX_OCTAL_12, b"mtime", &mut pax),
            Err(_) => {
                octal(&mut block[136..148], 0);
                pax.push((b"mtime".to_vec(), h.mtime.to_string().into_bytes()));
            }
        }
        block[156] = h.typeflag;
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        if matches!(h.typeflag, CHAR | BLOCKDEV) {
            octal(&mut block[329..337], u64::from(h.dev.0));
            octal(&mut block[337..345], u64::from(h.dev.1));
        }
        for (k, v) in &h.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k);
            pax.push((key, v.clone()));
        }
        if !pax.is_empty() {
            pax.sort();
            self.write_pax(&h.name, &pax).ctx(what)?;
        }
        checksum(&mut block);
        self.out.write_all(&block).ctx(what)?;
        self.entries += 1;
        if h.typeflag == REGULAR && h.size > 0 {
            let data = data.ok_or_else(|| Error::internal("regular file without data"))?;
            self.copy(data, h.size).map_err(|e| e.context(what()))?;
        }
        Ok(())
    }

    fn copy(&mut self, data: &mut dyn Read, size: u64) -> Result<()> {
        let mut left = size;
        while left > 0 {
            let want = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::Aborted,
                        format!("file shrank while being read ({left} of {size} bytes missing)"),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).ctx(|| "reading file"),
            };
            self.out.write_all(&self.buf[..n]).ctx(|| "writing")?;
            left -= n as u64;
        }
        self.pad(size).ctx(|| "writing")
    }

    fn pad(&mut self, size: u64) -> std::io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    fn write_pax(&mut self, name: &[u8], records: &[(Vec<u8>, Vec<u8>)]) -> std::io::Result<()> {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3;
            let mut len = body + digits(body);
            if digits(len) + body != len {
                len = body + digits(len);
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.push(b' ');
            data.extend_from_slice(k);
            data.push(b'=');
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let trimmed = name.strip_suffix(b"/").unwrap_or(name);
        let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        let mut pax_name = dir.to_vec();
        pax_name.extend_from_slice(b"PaxHeaders.0/");
        pax_name.extend_from_slice(base);
        pax_name.truncate(100);
        let mut block = [0u8; BLOCK];
        put(&mut block[0..100], &pax_name);
        octal(&mut block[100..108], 0o644);
        octal(&mut block[108..116], 0);
        octal(&mut block[116..124], 0);
        octal(&mut block[124..136], data.len() as u64);
        octal(&mut block[136..148], 0);
        block[156] = PAX;
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        checksum(&mut block);
        self.out.write_all(&block)?;
        self.out.write_all(&data)?;
        self.pad(data.len() as u64)
    }

    /// Writes the end-of-archive blocks; returns the writer, the digest and
    /// the size of everything written.
    pub(crate) fn finish(mut self) -> Result<(W, String, u64)> {
        self.out
            .write_all(&[0u8; 2 * BLOCK])
            .ctx(|| "writing tar end")?;
        let hashing = self
            .out
            .into_inner()
            .map_err(|e| crate::error::io_error("flushing layer", e.into_error()))?;
        let (mut w, digest, size) = hashing.finish();
        w.flush().ctx(|| "flushing layer")?;
        Ok((w, digest, size))
    }
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Splits a name into USTAR's prefix and name fields, if it fits them.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if !name.is_ascii() {
        return None;
    }
    if name.len() <= 100 {
        return Some((&[], name));
    }
    if name.len() > 256 {
        return None;
    }
    let lo = name.len().saturating_sub(101);
    (lo..name.len().min(156))
        .filter(|&i| name[i] == b'/' && i > 0 && name.len() - i - 1 <= 100 && i + 1 < name.len())
        .map(|i| (&name[..i], &name[i + 1..]))
        .next()
}

fn put(field: &mut [u8], value: &[u8]) {
    field[..value.len()].copy_from_slice(value);
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}", v, width = field.len() - 1);
    put(field, s.as_bytes());
}

fn numeric(field: &mut [u8], v: u64, max: u64, key: &[u8], pax: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    if v <= max {
        octal(field, v);
    } else {
        octal(field, 0);
        pax.push((key.to_vec(), v.to_string().into_bytes()));
    }
}

fn checksum(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pax = Vec<(String, Vec<u8>)>;

    fn read_back(bytes: &[u8]) -> Vec<(String, u8, u64, Vec<u8>, Pax)> {
        let mut ar = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let link = e.link_name_bytes().map(|l| l.to_vec()).unwrap_or_default();
            let (flag, uid) = (e.header().entry_type().as_byte(), e.header().uid().unwrap());
            let mut x = Vec::new();
            if let Some(p) = e.pax_extensions().unwrap() {
                for r in p {
                    let r = r.unwrap();
                    x.push((r.key().unwrap().to_owned(), r.value_bytes().to_vec()));
                }
            }
            out.push((name, flag, uid, link, x));
        }
        out
    }

    #[test]
    fn long_names_ids_and_xattrs_use_pax() {
        let mut w = TarWriter::new(Vec::new());
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
        let h = Header {
            name: long.clone().into_bytes(),
            typeflag: SYMLINK,
            uid: 5_000_000,
            link: "l".repeat(150).into_bytes(),
            xattrs: vec![(b"user.k".to_vec(), b"v\0bin".to_vec())],
            ..Header::default()
        };
        w.write(&h, None).unwrap();
        let split = format!("{}/{}", "p".repeat(120), "n".repeat(90));
        let h2 = Header {
            name: split.clone().into_bytes(),
            typeflag: REGULAR,
            size: 3,
            mtime: -5,
            ..Header::default()
        };
        w.write(&h2, Some(&mut &b"abc"[..])).unwrap();
        let (bytes, digest, size) = w.finish().unwrap();
        assert_eq!(size as usize, bytes.len());
        assert_eq!(bytes.len() % 512, 0);
        assert!(digest.starts_with("sha256:"));
        let got = read_back(&bytes);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, long);
        assert_eq!(got[0].2, 5_000_000);
        assert_eq!(got[0].3, "l".repeat(150).into_bytes());
        assert!(
            got[0]
                .4
                .contains(&("SCHILY.xattr.user.k".to_owned(), b"v\0bin".to_vec()))
        );
        assert_eq!(got[1].0, split);
        assert!(got[1].4.contains(&("mtime".to_owned(), b"-5".to_vec())));
    }

    #[test]
    fn pax_record_lengths_are_self_consistent() {
        for n in [1usize, 5, 90, 95, 96, 97, 98, 990, 995, 996] {
            let mut w = TarWriter::new(Vec::new());
            let h = Header {
                name: b"x".to_vec(),
                typeflag: REGULAR,
                xattrs: vec![(b"user.a".to_vec(), vec![b'z'; n])],
                ..Header::default()
            };
            w.write(&h, None).unwrap();
            let (bytes, _, _) = w.finish().unwrap();
            let got = read_back(&bytes);
            assert_eq!(got[0].4[0].1.len(), n);
        }
    }
}
