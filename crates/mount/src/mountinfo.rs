//! Reading `/proc/self/mountinfo`: which mount a path is on, and which
//! mounts lie below a directory.

use std::path::{Path, PathBuf};

use crate::error::MountError;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount's id.
    pub id: u32,
    /// The parent mount's id.
    pub parent: u32,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// The directory of the filesystem that forms this mount's root.
    pub root: PathBuf,
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// Per-mount options.
    pub options: String,
    /// The filesystem type.
    pub fstype: String,
    /// The mount source (e.g. a device).
    pub source: String,
    /// Per-superblock options.
    pub vfs_options: String,
}

/// Parses the text of a mountinfo file; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let (major, minor) = l.next()?.split_once(':')?;
    let root = unescape(l.next()?);
    let mountpoint = unescape(l.next()?);
    let options = l.next()?.to_owned();
    let mut r = right.split(' ');
    Some(MountInfo {
        id,
        parent,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: PathBuf::from(root),
        mountpoint: PathBuf::from(mountpoint),
        options,
        fstype: r.next()?.to_owned(),
        source: unescape(r.next()?),
        vfs_options: r.next().unwrap_or_default().to_owned(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, …).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts of this process, in mount order.
pub fn self_mountinfo() -> Result<Vec<MountInfo>, MountError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|e| MountError::io("reading", path, e))?;
    Ok(parse_mountinfo(&text))
}

/// The mount `path` is on: the one with the longest mount point that
/// contains it (the latest one when several are stacked), as containerd's
/// `mount.Lookup`.
pub fn lookup(path: &Path) -> Result<MountInfo, MountError> {
    let path = path
        .canonicalize()
        .map_err(|e| MountError::io("resolving", path, e))?;
    let mounts = self_mountinfo()?;
    let mut best: Option<&MountInfo> = None;
    for m in &mounts {
        let longer =
            best.is_none_or(|b| m.mountpoint.as_os_str().len() >= b.mountpoint.as_os_str().len());
        if path.starts_with(&m.mountpoint) && longer {
            best = Some(m);
        }
    }
    best.cloned()
        .ok_or_else(|| MountError::Unsupported(format!("no mount found for {}", path.display())))
}

/// The mount points at or below `dir`, latest mount first (the order to
/// unmount them in).
pub fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>, MountError> {
    let dir = dir
        .canonicalize()
        .map_err(|e| MountError::io("resolving", dir, e))?;
    Ok(self_mountinfo()?
        .into_iter()
        .rev()
        .map(|m| m.mountpoint)
        .filter(|p| p.starts_with(&dir))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 0:31 / /tmp/with\\040space rw,nosuid shared:7 master:2 - tmpfs tmpfs rw,size=10k
40 22 7:0 /sub /var/lib/b rw - btrfs /dev/loop0 rw,subvolid=256
garbage line
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mountpoint, PathBuf::from("/tmp/with space"));
        assert_eq!(m[1].fstype, "tmpfs");
        assert_eq!(m[1].options, "rw,nosuid");
        assert_eq!(m[2].source, "/dev/loop0");
        assert_eq!(m[2].root, PathBuf::from("/sub"));
        assert_eq!((m[2].major, m[2].minor), (7, 0));
        assert_eq!(m[2].vfs_options, "rw,subvolid=256");
    }

    #[test]
    fn lookup_of_root_finds_a_mount() {
        let m = lookup(Path::new("/")).unwrap();
        assert_eq!(m.mountpoint, PathBuf::from("/"));
    }

    #[test]
    fn unescape_leaves_plain_backslashes() {
        assert_eq!(unescape("a\\b"), "a\\b");
        assert_eq!(unescape("a\\134b"), "a\\b");
    }
}
