//! Helpers shared by the integration tests: building layer tars entry by
//! entry (raw names, so malicious ones too) and snapshotting trees.

#![allow(dead_code)]
// Test helpers: failing loudly is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

/// A temporary directory on tmpfs.
pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crated-archive-")
        .tempdir_in("/dev/shm")
        .unwrap()
}

/// One entry of a test layer.
#[derive(Clone, Debug)]
pub struct E {
    pub name: Vec<u8>,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub dev: (u32, u32),
    pub data: Vec<u8>,
    pub pax: Vec<(String, Vec<u8>)>,
}

impl E {
    fn new(name: &str, kind: EntryType, mode: u32) -> E {
        E {
            name: name.as_bytes().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: Vec::new(),
            dev: (0, 0),
            data: Vec::new(),
            pax: Vec::new(),
        }
    }
    pub fn dir(name: &str, mode: u32) -> E {
        E::new(name, EntryType::Directory, mode)
    }
    pub fn file(name: &str, data: &[u8], mode: u32) -> E {
        let mut e = E::new(name, EntryType::Regular, mode);
        e.data = data.to_vec();
        e
    }
    pub fn symlink(name: &str, target: &str) -> E {
        let mut e = E::new(name, EntryType::Symlink, 0o777);
        e.link = target.as_bytes().to_vec();
        e
    }
    pub fn hardlink(name: &str, target: &str) -> E {
        let mut e = E::new(name, EntryType::Link, 0o644);
        e.link = target.as_bytes().to_vec();
        e
    }
    pub fn char(name: &str, major: u32, minor: u32) -> E {
        let mut e = E::new(name, EntryType::Char, 0o666);
        e.dev = (major, minor);
        e
    }
    pub fn block(name: &str, major: u32, minor: u32) -> E {
        let mut e = E::new(name, EntryType::Block, 0o660);
        e.dev = (major, minor);
        e
    }
    pub fn fifo(name: &str) -> E {
        E::new(name, EntryType::Fifo, 0o644)
    }
    pub fn whiteout(name: &str) -> E {
        E::new(name, EntryType::Regular, 0)
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> E {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mode(mut self, mode: u32) -> E {
        self.mode = mode;
        self
    }
    pub fn mtime(mut self, t: u64) -> E {
        self.mtime = t;
        self
    }
    pub fn xattr(mut self, k: &str, v: &[u8]) -> E {
        self.pax.push((format!("SCHILY.xattr.{k}"), v.to_vec()));
        self
    }
    pub fn pax(mut self, k: &str, v: &str) -> E {
        self.pax.push((k.to_owned(), v.as_bytes().to_vec()));
        self
    }
}

/// Builds an uncompressed layer tar from entries.
pub fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.pax.is_empty() {
            b.append_pax_extensions(e.pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let mut h = Header::new_ustar();
        {
            let u = h.as_ustar_mut().unwrap();
            assert!(e.name.len() <= 100 && e.link.len() <= 100);
            u.name[..e.name.len()].copy_from_slice(&e.name);
            u.linkname[..e.link.len()].copy_from_slice(&e.link);
        }
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// What a tree holds at one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    pub rdev: (u32, u32),
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Modification time; `None` for directories unless asked.
    pub mtime: Option<(i64, i64)>,
    /// For files with several links: the first path (sorted) of the inode.
    pub link_group: Option<String>,
}

/// Every entry under `root` (root excluded), by relative path.
pub fn snapshot(root: &Path, dir_mtimes: bool) -> BTreeMap<String, Info> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<u64, Vec<String>> = HashMap::new();
    walk(root, root, dir_mtimes, &mut out, &mut inodes);
    for paths in inodes.values_mut() {
        paths.sort();
        for p in paths.iter() {
            out.get_mut(p).unwrap().link_group = Some(paths[0].clone());
        }
    }
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    dir_mtimes: bool,
    out: &mut BTreeMap<String, Info>,
    inodes: &mut HashMap<u64, Vec<String>>,
) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let info = info(&path, dir_mtimes);
        let md = std::fs::symlink_metadata(&path).unwrap();
        if !md.is_dir() && md.nlink() > 1 {
            inodes.entry(md.ino()).or_default().push(rel.clone());
        }
        let is_dir = info.kind == 'd';
        out.insert(rel, info);
        if is_dir {
            walk(root, &path, dir_mtimes, out, inodes);
        }
    }
}

/// What `path` is.
pub fn info(path: &Path, dir_mtime: bool) -> Info {
    let md = std::fs::symlink_metadata(path).unwrap();
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        'f'
    };
    Info {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        data: if kind == 'f' {
            std::fs::read(path).unwrap()
        } else {
            Vec::new()
        },
        link: if kind == 'l' {
            std::fs::read_link(path)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        } else {
            Vec::new()
        },
        rdev: if matches!(kind, 'c' | 'b') {
            (rustix::fs::major(md.rdev()), rustix::fs::minor(md.rdev()))
        } else {
            (0, 0)
        },
        xattrs: xattrs(path),
        mtime: (kind != 'd' || dir_mtime).then(|| (md.mtime(), md.mtime_nsec())),
        link_group: None,
    }
}

/// The xattrs of `path` (not following a symlink), sorted.
pub fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 65536];
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec()).unwrap();
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).unwrap();
        value.truncate(len);
        out.push((name, value));
    }
    out.sort();
    out
}

/// The names of the entries a layer tar holds, in order.
pub fn entry_names(tar_bytes: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

/// Sets the times of `path` (not following a symlink).
pub fn set_mtime(path: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// `path` joined under `root`.
pub fn at(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

/// sha256 of `data` as `sha256:<hex>`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
