//! Creating one entry in its (already resolved) parent directory and
//! setting its metadata.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use crated_core::{Error, ErrorKind, Result};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid, XattrFlags};
use rustix::io::Errno;

use super::State;
use super::header::{EntryMeta, Kind};
use crate::error::{IoContext, io_error, show};
use crate::fsops::{open_read_dir, proc_path, remove_all_at};
use crate::names;
use crate::resolve::{DirInfo, Resolver};

const CREATE_FILE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl State {
    /// Creates `base` in the resolver's current directory from `meta`,
    /// replacing what is there (a directory over a directory is merged).
    pub(super) fn create(
        &mut self,
        resolver: &Resolver,
        dir_info: Option<DirInfo>,
        base: &[u8],
        meta: &EntryMeta,
        data: &mut impl Read,
    ) -> Result<()> {
        let dir = resolver.dir();
        let what = || format!("tar entry {:?}", show(&meta.name));
        let perm = Mode::from_raw_mode(meta.mode);
        match meta.kind {
            Kind::Regular => {
                let create_mode = Mode::from_raw_mode(meta.mode & 0o777);
                let fd = replacing(dir, base, || {
                    rustix::fs::openat(dir, base, CREATE_FILE, create_mode)
                })
                .ctx(what)?;
                let mut file = File::from(fd);
                self.copy_data(&mut file, data, meta)?;
                if !self.creds.owner_is_exact(meta.uid, meta.gid, dir_info) {
                    rustix::fs::fchown(&file, uid(meta), gid(meta)).ctx(|| chown_what(meta))?;
                }
                set_xattrs(meta, true, |name, value| {
                    rustix::fs::fsetxattr(&file, name, value, XattrFlags::empty())
                })?;
                if !self.creds.mode_is_exact(meta.mode, dir_info) {
                    rustix::fs::fchmod(&file, perm).ctx(what)?;
                }
                rustix::fs::futimens(&file, &Self::times(meta)).ctx(what)?;
                self.stats.files += 1;
            }
            Kind::Dir => {
                self.make_dir(dir, base, meta)?;
                let rel = names::child(&resolver.dir_path(), base);
                self.dirs.push((rel, Self::times(meta)));
                self.stats.dirs += 1;
            }
            Kind::Symlink => {
                replacing(dir, base, || {
                    rustix::fs::symlinkat(meta.link.as_slice(), dir, base)
                })
                .ctx(what)?;
                self.finish_at(dir, base, meta, false, false)?;
                self.stats.symlinks += 1;
            }
            Kind::Hardlink => {
                self.hardlink(resolver, base, meta)?;
                self.stats.hardlinks += 1;
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (ftype, dev) = match meta.kind {
                    Kind::Char => (FileType::CharacterDevice, meta.dev),
                    Kind::Block => (FileType::BlockDevice, meta.dev),
                    _ => (FileType::Fifo, (0, 0)),
                };
                let dev = rustix::fs::makedev(dev.0, dev.1);
                let made = replacing(dir, base, || {
                    rustix::fs::mknodat(dir, base, ftype, Mode::from_raw_mode(0o600), dev)
                });
                if let Err(Errno::PERM) = made {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "{}: creating a device node is not permitted (needs CAP_MKNOD outside \
                             a user namespace)",
                            what()
                        ),
                    ));
                }
                made.ctx(what)?;
                self.finish_at(dir, base, meta, true, false)?;
                self.stats.devices += 1;
            }
        }
        Ok(())
    }

    fn copy_data(&mut self, file: &mut File, data: &mut impl Read, meta: &EntryMeta) -> Result<()> {
        let mut written: u64 = 0;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::with_source(
                        ErrorKind::DataLoss,
                        format_args!("tar entry {:?}: reading data", show(&meta.name)),
                        e,
                    ));
                }
            };
            file.write_all(&self.buf[..n])
                .ctx(|| format!("tar entry {:?}: writing", show(&meta.name)))?;
            written += n as u64;
        }
        if written != meta.size {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "tar entry {:?}: layer stream ends after {written} of {} bytes (truncated layer)",
                    show(&meta.name),
                    meta.size
                ),
            ));
        }
        Ok(())
    }

    /// Creates or merges a directory and sets owner, xattrs and mode (times
    /// are set at the end).
    fn make_dir(&mut self, dir: BorrowedFd<'_>, base: &[u8], meta: &EntryMeta) -> Result<()> {
        let what = || format!("tar entry {:?}", show(&meta.name));
        let mode = Mode::from_raw_mode(0o700);
        match rustix::fs::mkdirat(dir, base, mode) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(dir, base, AtFlags::SYMLINK_NOFOLLOW).ctx(what)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    remove_all_at(dir, base).ctx(what)?;
                    rustix::fs::mkdirat(dir, base, mode).ctx(what)?;
                }
            }
            Err(e) => return Err(e).ctx(what),
        }
        rustix::fs::chownat(dir, base, uid(meta), gid(meta), AtFlags::SYMLINK_NOFOLLOW)
            .ctx(|| chown_what(meta))?;
        if !meta.xattrs.is_empty() {
            let fd = open_read_dir(dir, base).ctx(what)?;
            set_xattrs(meta, true, |name, value| {
                rustix::fs::fsetxattr(&fd, name, value, XattrFlags::empty())
            })?;
        }
        rustix::fs::chmodat(dir, base, Mode::from_raw_mode(meta.mode), AtFlags::empty()).ctx(what)
    }

    fn hardlink(&mut self, resolver: &Resolver, base: &[u8], meta: &EntryMeta) -> Result<()> {
        let what = || format!("tar entry {:?}", show(&meta.name));
        let target = names::clean(&meta.link, self.strict, &meta.name)?;
        let Some((tbase, tparent)) = target.split_last() else {
            return Err(Error::invalid_argument(format!(
                "{}: hardlink to the root directory",
                what()
            )));
        };
        let tdir = resolver
            .resolve_fresh(tparent, &meta.name)
            .map_err(|e| e.context(format!("hardlink target {:?}", show(&meta.link))))?;
        let dir = resolver.dir();
        let linked = replacing(dir, base, || {
            rustix::fs::linkat(&tdir, *tbase, dir, base, AtFlags::empty())
        });
        match linked {
            Ok(()) => {}
            Err(Errno::NOENT) => {
                return Err(Error::not_found(format!(
                    "{}: hardlink target {:?} is not in this layer or below",
                    what(),
                    show(&meta.link)
                )));
            }
            Err(Errno::PERM) => {
                return Err(Error::invalid_argument(format!(
                    "{}: hardlink target {:?} is a directory",
                    what(),
                    show(&meta.link)
                )));
            }
            Err(e) => return Err(io_error(what(), e)),
        }
        let st = rustix::fs::statat(dir, base, AtFlags::SYMLINK_NOFOLLOW).ctx(what)?;
        let is_link = FileType::from_raw_mode(st.st_mode) == FileType::Symlink;
        let is_file = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
        // The hardlink header's owner, mode and times go to the shared inode,
        // as with containerd.
        self.finish_at(dir, base, meta, !is_link, is_file)
    }

    /// Owner, xattrs, mode (unless a symlink) and times of an entry created
    /// without a descriptor.
    fn finish_at(
        &self,
        dir: BorrowedFd<'_>,
        base: &[u8],
        meta: &EntryMeta,
        chmod: bool,
        file_or_dir: bool,
    ) -> Result<()> {
        let what = || format!("tar entry {:?}", show(&meta.name));
        rustix::fs::chownat(dir, base, uid(meta), gid(meta), AtFlags::SYMLINK_NOFOLLOW)
            .ctx(|| chown_what(meta))?;
        if !meta.xattrs.is_empty() {
            let path = proc_path(dir.as_fd(), base);
            set_xattrs(meta, file_or_dir, |name, value| {
                rustix::fs::lsetxattr(&path, name, value, XattrFlags::empty())
            })?;
        }
        if chmod {
            rustix::fs::chmodat(dir, base, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .ctx(what)?;
        }
        rustix::fs::utimensat(dir, base, &Self::times(meta), AtFlags::SYMLINK_NOFOLLOW).ctx(what)
    }
}

/// Runs `create`; if the name exists, removes it (a directory with all it
/// holds) and runs `create` again.
fn replacing<T>(
    dir: BorrowedFd<'_>,
    base: &[u8],
    create: impl Fn() -> rustix::io::Result<T>,
) -> rustix::io::Result<T> {
    match create() {
        Err(Errno::EXIST) => {
            remove_all_at(dir, base)?;
            create()
        }
        other => other,
    }
}

fn uid(meta: &EntryMeta) -> Option<Uid> {
    Some(Uid::from_raw(meta.uid))
}

fn gid(meta: &EntryMeta) -> Option<Gid> {
    Some(Gid::from_raw(meta.gid))
}

fn chown_what(meta: &EntryMeta) -> String {
    format!(
        "tar entry {:?}: chown to {}:{}",
        show(&meta.name),
        meta.uid,
        meta.gid
    )
}

/// Sets the entry's xattrs with containerd's rules: `trusted.*` from an
/// archive is never set, filesystems without xattrs are tolerated, and
/// `user.*` on entries other than files and directories (which Linux
/// refuses) is skipped.
fn set_xattrs(
    meta: &EntryMeta,
    file_or_dir: bool,
    set: impl Fn(&CStr, &[u8]) -> rustix::io::Result<()>,
) -> Result<()> {
    for (name, value) in &meta.xattrs {
        let attr = name.as_bytes();
        let skip = |why: &str| {
            tracing::warn!(entry = %show(&meta.name), xattr = %show(attr), "{why}: xattr ignored");
        };
        if attr.starts_with(b"trusted.") {
            skip("admin attributes from archives are not supported");
            continue;
        }
        match set(name, value) {
            Ok(()) => {}
            Err(Errno::NOTSUP) => skip("not supported by the filesystem"),
            Err(Errno::PERM) if attr.starts_with(b"user.") && !file_or_dir => {
                skip("user xattrs are only allowed on files and directories")
            }
            Err(e) => {
                return Err(io_error(
                    format!(
                        "tar entry {:?}: setting xattr {:?}",
                        show(&meta.name),
                        show(attr)
                    ),
                    e,
                ));
            }
        }
    }
    Ok(())
}
