//! The spec crate's error: what failed, with its source, and the
//! containerd error kind it maps to.

use crated_core::{ErrorKind, HasKind};

/// Result with the spec crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading something on the host or in the root filesystem failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An option's value is not acceptable.
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    /// The containerd error kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::Unknown,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        }
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}
