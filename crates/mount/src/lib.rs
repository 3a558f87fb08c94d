//! crated's mount helpers: performing the mounts snapshotters describe
//! (`crated_core::mount::Mount`), undoing them, and mounting on a temporary
//! directory for the length of a closure — containerd's `mount` package.
//!
//! Options are parsed into `MS_*` flags and filesystem data the way
//! containerd's `parseMountOptions` does; read-only bind mounts are
//! remounted read-only; an overlay `lowerdir=` too long for the kernel's
//! one-page limit is made relative to the lower directories' common parent
//! and mounted from there.
//!
//! The two system calls involved sit behind [`Syscalls`], so the logic is
//! unit-tested without root; [`Linux`] is the real kernel. The free
//! functions use [`Mounter::linux`].

mod error;
mod lowerdir;
mod mounter;
mod mountinfo;
mod options;
mod sys;
mod temp;

use std::path::Path;

pub use crated_core::mount::Mount;
pub use error::MountError;
pub use lowerdir::{compact_lowerdir_option, options_size};
pub use mounter::Mounter;
pub use mountinfo::{MountInfo, lookup, mounts_under, parse_mountinfo, self_mountinfo};
pub use nix::mount::{MntFlags, MsFlags};
pub use options::{PROPAGATION_FLAGS, ParsedOptions, parse_mount_options, readonly_mounts};
pub use sys::{Linux, MountCall, Syscalls};
pub use temp::temp_mount_location;

/// Mounts `m` on `target` (see [`Mounter::mount`]).
pub fn mount(m: &Mount, target: &Path) -> Result<(), MountError> {
    Mounter::linux().mount(m, target)
}

/// Mounts every mount of `mounts` on `target`, in order.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), MountError> {
    Mounter::linux().mount_all(mounts, target)
}

/// Unmounts the top mount on `target`, detaching it if it stays busy; a
/// target that is not a mount point is success.
pub fn unmount(target: &Path) -> Result<(), MountError> {
    Mounter::linux().unmount(target)
}

/// Unmounts every mount stacked on `target`; a missing target is success.
pub fn unmount_all(target: &Path) -> Result<(), MountError> {
    Mounter::linux().unmount_all(target)
}

/// Unmounts every mount at or below `dir`, latest first, so that `dir` can
/// be removed. For cleaning up after tests and crashed operations.
pub fn unmount_under(dir: &Path) -> Result<(), MountError> {
    let mounter = Mounter::linux();
    for point in mounts_under(dir)? {
        mounter.unmount(&point)?;
    }
    Ok(())
}

/// Mounts `mounts` on a temporary directory, runs `f` on it, then always
/// unmounts and removes the directory (see [`Mounter::with_temp_mount`]).
pub fn with_temp_mount<T, E: From<MountError>>(
    mounts: &[Mount],
    f: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    Mounter::linux().with_temp_mount(mounts, f)
}

/// [`with_temp_mount`] with the mounts made read-only first.
pub fn with_readonly_temp_mount<T, E: From<MountError>>(
    mounts: &[Mount],
    f: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    Mounter::linux().with_readonly_temp_mount(mounts, f)
}
