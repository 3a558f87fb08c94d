//! The errors of mounting and unmounting, each with a containerd kind.

use std::io;
use std::path::PathBuf;

use crated_core::errconv::io_kind;
use crated_core::{Error, ErrorKind, HasKind};
use nix::errno::Errno;

/// What went wrong while mounting or unmounting.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The mount(2) call itself failed.
    #[error("mounting {fstype} {device:?} on {target} ({step}): {errno}")]
    Mount {
        /// The filesystem type.
        fstype: String,
        /// The mount source.
        device: String,
        /// Where it was to be mounted.
        target: PathBuf,
        /// Which call failed: `mount`, `propagation` or `remount read-only`.
        step: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
    /// umount2(2) failed.
    #[error("unmounting {target}: {errno}")]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// The kernel's answer.
        errno: Errno,
    },
    /// The option string is longer than the kernel accepts (one page).
    #[error(
        "mount options of {fstype} mount on {target} are {len} bytes, more than the {limit} the kernel accepts"
    )]
    OptionsTooLong {
        /// The filesystem type.
        fstype: String,
        /// Where it was to be mounted.
        target: PathBuf,
        /// The length of the option string.
        len: usize,
        /// The page size.
        limit: usize,
    },
    /// A mount asks for something this crate does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A mount's relative target is not a plain relative path.
    #[error("mount target {target:?} is invalid: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A filesystem operation around the mount failed.
    #[error("{what} {path}: {err}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        #[source]
        err: io::Error,
    },
}

impl MountError {
    /// An `Io` error.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, err: io::Error) -> Self {
        MountError::Io {
            what,
            path: path.into(),
            err,
        }
    }
}

/// The kind of a mount(2)/umount2(2) failure: ENODEV (the kernel lacks the
/// filesystem type) is `NotImplemented`; every other errno goes through
/// the one I/O table.
fn errno_kind(errno: Errno) -> ErrorKind {
    match errno {
        Errno::ENODEV => ErrorKind::NotImplemented,
        _ => io_kind(&io::Error::from(errno)),
    }
}

impl HasKind for MountError {
    fn kind(&self) -> ErrorKind {
        match self {
            MountError::Mount { errno, .. } | MountError::Unmount { errno, .. } => {
                errno_kind(*errno)
            }
            MountError::OptionsTooLong { .. } | MountError::InvalidTarget { .. } => {
                ErrorKind::InvalidArgument
            }
            MountError::Unsupported(_) => ErrorKind::NotImplemented,
            MountError::Io { err, .. } => io_kind(err),
        }
    }
}

impl From<MountError> for Error {
    fn from(e: MountError) -> Self {
        Error::wrap(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_with_kind_and_names_target() {
        let e = MountError::Mount {
            fstype: "overlay".into(),
            device: "overlay".into(),
            target: "/mnt/x".into(),
            step: "mount",
            errno: Errno::ENODEV,
        };
        let core: Error = e.into();
        assert_eq!(core.kind(), ErrorKind::NotImplemented);
        assert!(core.message().contains("/mnt/x"), "{core}");
    }
}
