//! Mounting on a temporary directory for the length of a closure.

use std::path::{Path, PathBuf};

use crated_core::mount::Mount;

use crate::error::MountError;
use crate::mounter::Mounter;
use crate::options::readonly_mounts;
use crate::sys::Syscalls;

/// Where temporary mount points are made: `$XDG_RUNTIME_DIR` if set, else
/// the system's temporary directory, as in containerd.
pub fn temp_mount_location() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

impl<S: Syscalls> Mounter<S> {
    /// Mounts `mounts` on a new temporary directory, calls `f` with it, and
    /// then, whatever `f` returned, unmounts everything stacked there and
    /// removes the directory. The directory is removed with `rmdir` only,
    /// never recursively, so a failed unmount cannot delete data through
    /// a mount that is still there (containerd's reasoning too).
    ///
    /// An error of `f` is returned as it is; an unmount failure after a
    /// successful `f` is returned as a [`MountError`].
    pub fn with_temp_mount<T, E>(
        &self,
        mounts: &[Mount],
        f: impl FnOnce(&Path) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<MountError>,
    {
        let template = temp_mount_location().join("crated-mount-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(|errno| {
            MountError::io(
                "creating temporary mount point",
                template,
                std::io::Error::from(errno),
            )
        })?;
        let result = self
            .mount_all(mounts, &dir)
            .map_err(E::from)
            .and_then(|()| f(&dir));
        let unmounted = self.unmount_all(&dir);
        if unmounted.is_ok()
            && let Err(e) = std::fs::remove_dir(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "removing temporary mount point");
        }
        match (result, unmounted) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(e.into()),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(unmount)) => {
                tracing::error!(dir = %dir.display(), error = %unmount, "unmounting temporary mount point");
                Err(e)
            }
        }
    }

    /// [`Mounter::with_temp_mount`] with the mounts made read-only first
    /// ([`readonly_mounts`]).
    pub fn with_readonly_temp_mount<T, E>(
        &self,
        mounts: &[Mount],
        f: impl FnOnce(&Path) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<MountError>,
    {
        self.with_temp_mount(&readonly_mounts(mounts.to_vec()), f)
    }
}
