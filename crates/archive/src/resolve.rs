//! Resolution of directory paths inside a root, the way containerd's
//! `fs.RootPath` does: symlinks met on the way are followed as if the root
//! were `/` (an absolute target restarts at the root, `..` stops at it), so
//! a path never leaves the root. Every step opens the next directory with
//! `O_NOFOLLOW` relative to the previous one; nothing is looked up by a
//! host path.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crated_core::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, XattrFlags};
use rustix::io::Errno;

use crate::error::{IoContext, show};
use crate::fsops::{PATH_DIR, list_xattrs_fd, open_read_dir, proc_path, timestamps};
use crate::names;

/// Symlinks followed while resolving one path, like containerd's limit.
const MAX_LINKS: usize = 255;

/// What to do with a directory that does not exist.
#[derive(Clone, Copy)]
pub(crate) enum Missing<'a> {
    /// Fail with `NotFound`.
    Fail,
    /// Fail with `NotFound`, also where a symlink is met: for revisiting
    /// directories this apply created, which a later entry may have
    /// replaced.
    FailNoFollow,
    /// Create it (mode 0755), copying owner, mode, times and xattrs from the
    /// same path in the first of these roots that has it as a directory.
    Create(&'a [OwnedFd]),
}

/// What new entries inherit from a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirInfo {
    /// The directory's group, given to new entries when `setgid`.
    pub gid: u32,
    /// Whether the directory is set-group-ID.
    pub setgid: bool,
    /// Whether a default ACL may decide new entries' modes instead of the
    /// umask.
    pub default_acl: bool,
}

impl DirInfo {
    fn of(dir: BorrowedFd<'_>) -> rustix::io::Result<DirInfo> {
        let st = rustix::fs::fstat(dir)?;
        let path = proc_path(dir, b"");
        let default_acl = match rustix::fs::getxattr_query(&path, "system.posix_acl_default") {
            Ok(n) => n > 0,
            Err(Errno::NODATA | Errno::NOTSUP) => false,
            Err(_) => true,
        };
        Ok(DirInfo {
            gid: st.st_gid,
            setgid: st.st_mode & 0o2000 != 0,
            default_acl,
        })
    }
}

/// Resolves directories inside one root, remembering the last directory
/// resolved so entries in the same directory cost no lookups.
pub(crate) struct Resolver {
    root: OwnedFd,
    root_info: Option<DirInfo>,
    strict: bool,
    /// Real directories (no symlinks) from the root to the last result.
    chain: Vec<(Vec<u8>, OwnedFd)>,
    /// [`DirInfo`] of the last directory of `chain`, once asked for.
    info: Option<DirInfo>,
}

impl Resolver {
    /// A resolver inside the directory open as `root`. With `strict`, a
    /// symlink whose target is absolute or climbs above the root is refused
    /// instead of being followed inside the root.
    pub(crate) fn new(root: OwnedFd, strict: bool) -> Self {
        Resolver {
            root,
            root_info: None,
            strict,
            chain: Vec::new(),
            info: None,
        }
    }

    /// Resolves `comps` (cleaned, relative to the root) to a directory and
    /// returns it. `entry` names the tar entry in errors.
    pub(crate) fn resolve(
        &mut self,
        comps: &[&[u8]],
        missing: Missing<'_>,
        entry: &[u8],
    ) -> Result<BorrowedFd<'_>> {
        let same = self
            .chain
            .iter()
            .zip(comps)
            .take_while(|((have, _), want)| have.as_slice() == **want)
            .count();
        if same < self.chain.len() || same < comps.len() {
            self.info = None;
        }
        self.chain.truncate(same);
        if same < comps.len() {
            let rest: Vec<Vec<u8>> = comps[same..].iter().rev().map(|c| c.to_vec()).collect();
            walk(
                &self.root,
                &mut self.chain,
                rest,
                missing,
                self.strict,
                entry,
            )?;
        }
        Ok(self.dir())
    }

    /// The directory last resolved.
    pub(crate) fn dir(&self) -> BorrowedFd<'_> {
        match self.chain.last() {
            Some((_, fd)) => fd.as_fd(),
            None => self.root.as_fd(),
        }
    }

    /// What new entries in the directory last resolved inherit from it.
    pub(crate) fn dir_info(&mut self) -> rustix::io::Result<DirInfo> {
        if self.chain.is_empty() {
            if let Some(info) = self.root_info {
                return Ok(info);
            }
            let info = DirInfo::of(self.root.as_fd())?;
            self.root_info = Some(info);
            return Ok(info);
        }
        if let Some(info) = self.info {
            return Ok(info);
        }
        let info = DirInfo::of(self.dir())?;
        self.info = Some(info);
        Ok(info)
    }

    /// The real path, relative to the root, of the directory last resolved.
    pub(crate) fn dir_path(&self) -> Vec<u8> {
        let comps: Vec<&[u8]> = self.chain.iter().map(|(n, _)| n.as_slice()).collect();
        names::join(&comps)
    }

    /// Resolves `comps` without touching the remembered directory, for
    /// lookups that must see the tree as it is now (hardlink targets).
    pub(crate) fn resolve_fresh(&self, comps: &[&[u8]], entry: &[u8]) -> Result<OwnedFd> {
        let mut chain = Vec::new();
        let rest: Vec<Vec<u8>> = comps.iter().rev().map(|c| c.to_vec()).collect();
        walk(
            &self.root,
            &mut chain,
            rest,
            Missing::Fail,
            self.strict,
            entry,
        )?;
        match chain.pop() {
            Some((_, fd)) => Ok(fd),
            None => rustix::fs::openat(&self.root, ".", PATH_DIR, Mode::empty())
                .ctx(|| "opening the root"),
        }
    }
}

/// Resolves the components in `rest` (a stack: next component last) from
/// the end of `chain`, pushing each directory reached.
fn walk(
    root: &OwnedFd,
    chain: &mut Vec<(Vec<u8>, OwnedFd)>,
    mut rest: Vec<Vec<u8>>,
    missing: Missing<'_>,
    strict: bool,
    entry: &[u8],
) -> Result<()> {
    let mut links = 0;
    while let Some(comp) = rest.pop() {
        match comp.as_slice() {
            b"" | b"." => continue,
            b".." => {
                if chain.pop().is_none() && strict {
                    return Err(escape(entry, "a symlink climbs above the root"));
                }
                continue;
            }
            _ => {}
        }
        let cur = match chain.last() {
            Some((_, fd)) => fd.as_fd(),
            None => root.as_fd(),
        };
        match rustix::fs::openat(cur, comp.as_slice(), PATH_DIR, Mode::empty()) {
            Ok(fd) => {
                chain.push((comp, fd));
                continue;
            }
            Err(Errno::NOENT) => {
                let Missing::Create(parents) = missing else {
                    return Err(Error::not_found(format!(
                        "tar entry {:?}: directory {:?} does not exist",
                        show(entry),
                        show(&path_of(chain, &comp))
                    )));
                };
                let fd = make_dir(cur, &comp, parents, &path_of(chain, &comp), entry)?;
                chain.push((comp, fd));
                continue;
            }
            Err(Errno::NOTDIR | Errno::LOOP) => {}
            Err(e) => {
                return Err(e).ctx(|| {
                    format!(
                        "tar entry {:?}: opening {:?}",
                        show(entry),
                        show(&path_of(chain, &comp))
                    )
                });
            }
        }
        let st = rustix::fs::statat(cur, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            .ctx(|| format!("tar entry {:?}: stat", show(entry)))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink
            && matches!(missing, Missing::FailNoFollow)
        {
            return Err(Error::not_found(format!(
                "tar entry {:?}: {:?} is a symlink now",
                show(entry),
                show(&path_of(chain, &comp))
            )));
        }
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            return Err(Error::failed_precondition(format!(
                "tar entry {:?}: parent {:?} is not a directory",
                show(entry),
                show(&path_of(chain, &comp))
            )));
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Error::invalid_argument(format!(
                "tar entry {:?}: too many levels of symbolic links",
                show(entry)
            )));
        }
        let target = rustix::fs::readlinkat(cur, comp.as_slice(), Vec::new())
            .ctx(|| format!("tar entry {:?}: reading symlink", show(entry)))?;
        let target = target.as_bytes();
        if target.first() == Some(&b'/') {
            if strict {
                return Err(escape(entry, "a symlink on its path is absolute"));
            }
            chain.clear();
        }
        rest.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
    }
    Ok(())
}

fn escape(entry: &[u8], why: &str) -> Error {
    Error::invalid_argument(format!(
        "tar entry {:?}: {why} (refused in strict mode)",
        show(entry)
    ))
}

fn path_of(chain: &[(Vec<u8>, OwnedFd)], last: &[u8]) -> Vec<u8> {
    let mut comps: Vec<&[u8]> = chain.iter().map(|(n, _)| n.as_slice()).collect();
    comps.push(last);
    names::join(&comps)
}

/// Creates the missing directory `name` in `dir` (at `rel` from the root).
fn make_dir(
    dir: BorrowedFd<'_>,
    name: &[u8],
    parents: &[OwnedFd],
    rel: &[u8],
    entry: &[u8],
) -> Result<OwnedFd> {
    let what = || {
        format!(
            "tar entry {:?}: creating parent {:?}",
            show(entry),
            show(rel)
        )
    };
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e).ctx(what),
    }
    let fd = open_read_dir(dir, name).ctx(what)?;
    if !inherit(&fd, parents, rel).ctx(what)? {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).ctx(what)?;
    }
    rustix::fs::openat(dir, name, PATH_DIR, Mode::empty()).ctx(what)
}

/// Copies owner, mode, times and (non-`trusted.`) xattrs onto `fd` from the
/// directory at `rel` in the first of `parents` that has it. Returns
/// whether one did.
fn inherit(fd: &OwnedFd, parents: &[OwnedFd], rel: &[u8]) -> rustix::io::Result<bool> {
    let comps: Vec<&[u8]> = rel
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for parent in parents {
        let mut chain = Vec::new();
        let rest: Vec<Vec<u8>> = comps.iter().rev().map(|c| c.to_vec()).collect();
        let src = match walk(parent, &mut chain, rest, Missing::Fail, false, rel) {
            Ok(()) => match chain.pop() {
                Some((_, fd)) => fd,
                None => continue,
            },
            Err(e) if e.kind() == crated_core::ErrorKind::NotFound => continue,
            // Replaced by a non-directory in that layer: keep defaults.
            Err(_) => return Ok(false),
        };
        let src = open_read_dir(&src, b".")?;
        let st = rustix::fs::fstat(&src)?;
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(st.st_uid)),
            Some(rustix::fs::Gid::from_raw(st.st_gid)),
        )?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))?;
        let times = timestamps(
            (st.st_atime, nsec(st.st_atime_nsec)),
            (st.st_mtime, nsec(st.st_mtime_nsec)),
        );
        rustix::fs::futimens(fd, &times)?;
        for (name, value) in list_xattrs_fd(&src)? {
            if name.as_bytes().starts_with(b"trusted.") {
                continue;
            }
            match rustix::fs::fsetxattr(fd, name.as_c_str(), &value, XattrFlags::CREATE) {
                Ok(()) | Err(Errno::NOTSUP | Errno::NODATA | Errno::EXIST) => {}
                Err(e) => return Err(e),
            }
        }
        return Ok(true);
    }
    Ok(false)
}

/// Nanoseconds of a `stat` time as `u32` (always below 10⁹).
pub(crate) fn nsec<T: TryInto<u32>>(v: T) -> u32 {
    v.try_into().unwrap_or(0)
}
