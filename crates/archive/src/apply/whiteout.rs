//! Whiteout (`.wh.<name>`) and opaque (`.wh..wh..opq`) entries.

use std::os::fd::{AsFd, BorrowedFd};

use crated_core::{Error, Result};
use rustix::fs::{AtFlags, FileType, Gid, Mode, Uid, XattrFlags};
use rustix::io::Errno;

use super::header::EntryMeta;
use super::{State, Whiteouts};
use crate::error::{IoContext, show};
use crate::fsops::{list_names, open_read_dir, remove_all_at};
use crate::names;
use crate::resolve::Resolver;

/// What follows `.wh.` in an opaque marker.
const OPAQUE: &[u8] = b".wh..opq";
/// The xattr overlayfs reads to make a directory opaque.
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

impl State {
    /// Applies the whiteout `.wh.<name>` found in the resolver's current
    /// directory.
    pub(super) fn whiteout(
        &mut self,
        resolver: &Resolver,
        name: &[u8],
        meta: &EntryMeta,
    ) -> Result<()> {
        let dir = resolver.dir();
        let what = || format!("tar entry {:?}", show(&meta.name));
        self.stats.whiteouts += 1;
        if name == OPAQUE {
            return match self.whiteouts {
                Whiteouts::Oci => self.remove_lower(dir, &resolver.dir_path()).ctx(what),
                Whiteouts::Overlay => {
                    let fd = open_read_dir(dir, b".").ctx(what)?;
                    rustix::fs::fsetxattr(&fd, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                        .ctx(|| format!("{}: setting {OVERLAY_OPAQUE_XATTR}", what()))
                }
            };
        }
        if matches!(name, b"" | b"." | b"..") {
            return Err(Error::invalid_argument(format!(
                "{}: invalid whiteout name",
                what()
            )));
        }
        match self.whiteouts {
            Whiteouts::Oci => remove_all_at(dir, name).ctx(what),
            Whiteouts::Overlay => {
                rustix::fs::mknodat(dir, name, FileType::CharacterDevice, Mode::empty(), 0)
                    .ctx(|| format!("{}: creating the overlay whiteout device", what()))?;
                rustix::fs::chownat(
                    dir,
                    name,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .ctx(what)
            }
        }
    }

    /// Removes everything below `dir` (at `rel`) that this layer did not
    /// create: the lower layers' content hidden by an opaque marker.
    fn remove_lower(&self, dir: BorrowedFd<'_>, rel: &[u8]) -> rustix::io::Result<()> {
        let fd = open_read_dir(dir, b".")?;
        let mut children = list_names(&fd)?;
        children.sort();
        for child in children {
            let name = child.as_bytes();
            let path = names::child(rel, name);
            if !self.unpacked.contains(&path) {
                remove_all_at(&fd, name)?;
                continue;
            }
            let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                match open_read_dir(&fd, name) {
                    Ok(sub) => self.remove_lower(sub.as_fd(), &path)?,
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}
