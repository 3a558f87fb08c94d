//! The snapshotters' errors: [`StorageError`] for the metadata database,
//! and helpers building `crated_core::Error`s that name what failed and on
//! what, each keeping its cause as the source.

use std::io;
use std::path::{Path, PathBuf};

use crated_core::{Error, ErrorKind, HasKind};

/// A failure of a snapshotter's metadata database or of a record in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database file could not be opened or created.
    #[error("opening snapshot metadata database {}: {source}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// redb's answer.
        #[source]
        source: redb::DatabaseError,
    },
    /// A transaction, table or row operation failed.
    #[error("snapshot metadata database: {source}")]
    Database {
        /// redb's answer.
        #[source]
        source: redb::Error,
    },
    /// A record could not be encoded.
    #[error("encoding snapshot record {id}: {source}")]
    Encode {
        /// The snapshot id.
        id: u64,
        /// The encoder's answer.
        #[source]
        source: serde_json::Error,
    },
    /// A stored record is not readable: the database is damaged.
    #[error("decoding snapshot record {key:?}: {source}")]
    Decode {
        /// The snapshot key.
        key: String,
        /// The decoder's answer.
        #[source]
        source: serde_json::Error,
    },
}

impl HasKind for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::Open { .. }
            | StorageError::Database { .. }
            | StorageError::Encode { .. } => ErrorKind::Internal,
            StorageError::Decode { .. } => ErrorKind::DataLoss,
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error::wrap(e)
    }
}

/// An error for `what` failing on `path` with `e`.
pub(crate) fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    crated_core::errconv::from_io(format_args!("{what} {}", path.display()), e)
}

/// An error for `what` failing on `path` with `errno`.
pub(crate) fn errno_error(what: &str, path: &Path, errno: nix::errno::Errno) -> Error {
    io_error(what, path, io::Error::from(errno))
}

/// An error of the snapshot metadata database.
pub(crate) fn db_error(e: impl Into<redb::Error>) -> Error {
    StorageError::Database { source: e.into() }.into()
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_damaged_record_is_data_loss_and_keeps_the_decoder_error() {
        let Err(source) = serde_json::from_slice::<u64>(b"{") else {
            panic!("decoded garbage");
        };
        let err = Error::from(StorageError::Decode {
            key: "k".into(),
            source,
        });
        assert_eq!(err.kind(), ErrorKind::DataLoss);
        assert!(
            err.message()
                .starts_with("decoding snapshot record \"k\": ")
        );
        let typed = err.source().and_then(|s| s.downcast_ref::<StorageError>());
        assert!(matches!(typed, Some(StorageError::Decode { .. })));
        let json = typed
            .and_then(|t| t.source())
            .and_then(|s| s.downcast_ref::<serde_json::Error>());
        assert!(json.is_some());
    }
}
