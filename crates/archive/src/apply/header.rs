//! The parts of a tar entry that apply needs, with PAX records (fractional
//! times, `SCHILY.xattr.*`) folded in.

use std::ffi::CString;
use std::io::Read;

use crated_core::{Error, Result};

use crate::error::{IoContext, show};

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// One tar entry's metadata.
#[derive(Debug)]
pub(crate) struct EntryMeta {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub size: u64,
    pub dev: (u32, u32),
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// Latest time Go's `os.Chtimes` can represent, in whole seconds.
const MAX_SECS: i64 = 9_223_372_036;

/// Reads the metadata of `entry`; `None` for entries that carry none for
/// the filesystem (PAX global headers).
pub(crate) fn parse<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<EntryMeta>> {
    let name = entry.path_bytes().into_owned();
    let what = || format!("tar entry {:?}", show(&name));
    let header = entry.header();
    let flag = header.as_bytes()[156];
    let kind = match flag {
        b'0' | b'7' | b'S' => Kind::Regular,
        0 if name.ends_with(b"/") => Kind::Dir,
        0 => Kind::Regular,
        b'1' => Kind::Hardlink,
        b'2' => Kind::Symlink,
        b'3' => Kind::Char,
        b'4' => Kind::Block,
        b'5' => Kind::Dir,
        b'6' => Kind::Fifo,
        b'g' => return Ok(None),
        other => {
            return Err(Error::invalid_argument(format!(
                "{}: unhandled tar header type {:?}",
                what(),
                char::from(other)
            )));
        }
    };
    let raw = header.as_bytes();
    let mode = blank_is_zero(header.mode().map(u64::from), &raw[100..108]).ctx(what)?;
    let mode = u32::try_from(mode & 0o7777).unwrap_or(0);
    let uid = id(
        blank_is_zero(header.uid(), &raw[108..116]).ctx(what)?,
        &what,
    )?;
    let gid = id(
        blank_is_zero(header.gid(), &raw[116..124]).ctx(what)?,
        &what,
    )?;
    let mut mtime = secs(blank_is_zero(header.mtime(), &raw[136..148]).ctx(what)?);
    let mut atime = header
        .as_gnu()
        .and_then(|g| g.atime().ok())
        .filter(|&t| t > 0)
        .map(secs);
    let dev = match kind {
        Kind::Char | Kind::Block => (
            header.device_major().ctx(what)?.unwrap_or(0),
            header.device_minor().ctx(what)?.unwrap_or(0),
        ),
        _ => (0, 0),
    };
    let link = entry
        .link_name_bytes()
        .map(|l| l.into_owned())
        .unwrap_or_default();
    let size = entry.size();
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().ctx(what)? {
        for ext in pax {
            let ext = ext.ctx(what)?;
            let key = ext.key_bytes();
            if let Some(attr) = key.strip_prefix(XATTR_PREFIX) {
                let attr = CString::new(attr)
                    .ok()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| {
                        Error::invalid_argument(format!("{}: bad xattr name", what()))
                    })?;
                xattrs.push((attr, ext.value_bytes().to_vec()));
            } else if key == b"mtime" {
                mtime = pax_time(ext.value_bytes()).ok_or_else(|| bad_time(&what))?;
            } else if key == b"atime" {
                atime = Some(pax_time(ext.value_bytes()).ok_or_else(|| bad_time(&what))?);
            }
        }
    }
    let atime = bound(atime.map_or(mtime, |a| a.max(mtime)));
    Ok(Some(EntryMeta {
        name,
        kind,
        link,
        mode,
        uid,
        gid,
        atime,
        mtime: bound(mtime),
        size,
        dev,
        xattrs,
    }))
}

/// An empty numeric field reads as 0, as in Go's `archive/tar`.
fn blank_is_zero(parsed: std::io::Result<u64>, field: &[u8]) -> std::io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

fn id(v: u64, what: &impl Fn() -> String) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| Error::invalid_argument(format!("{}: id {v} out of range", what())))
}

fn bad_time(what: &impl Fn() -> String) -> Error {
    Error::invalid_argument(format!("{}: malformed PAX time", what()))
}

fn secs(v: u64) -> (i64, u32) {
    (i64::try_from(v).unwrap_or(i64::MAX), 0)
}

/// Times before 1970 or past Go's limit become the epoch, as in containerd.
fn bound(t: (i64, u32)) -> (i64, u32) {
    if t.0 < 0 || t.0 > MAX_SECS { (0, 0) } else { t }
}

/// Parses a PAX time (`secs[.fraction]`, possibly negative). Negative
/// times come back as `(-1, 0)`: they are all bounded to the epoch.
fn pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if neg && (secs > 0 || nanos > 0) {
        return Some((-1, 0));
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(pax_time(b"1.0000000019"), Some((1, 1)));
        assert_eq!(pax_time(b"-1.5"), Some((-1, 0)));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b""), None);
        assert_eq!(bound((-1, 0)), (0, 0));
        assert_eq!(bound((MAX_SECS + 1, 0)), (0, 0));
    }
}
