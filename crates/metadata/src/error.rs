//! [`DbError`]: the metadata database's failures, typed, with their causes.

use std::path::PathBuf;

use crated_core::{Error, ErrorKind, HasKind};

/// A failure of the metadata database or of a record in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A file-system step around the database file failed.
    #[error("{what} {}: {source}", .path.display())]
    File {
        /// What was being done, e.g. `creating metadata directory`.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened or created.
    #[error("opening metadata database {}: {source}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// redb's answer.
        #[source]
        source: redb::DatabaseError,
    },
    /// A transaction, table or row operation failed.
    #[error("metadata database: {source}")]
    Database {
        /// redb's answer.
        #[source]
        source: redb::Error,
    },
    /// A record could not be encoded.
    #[error("encoding metadata record: {source}")]
    Encode {
        /// The encoder's answer.
        #[source]
        source: serde_json::Error,
    },
    /// A stored record is not readable: the database is damaged.
    #[error("decoding metadata record {key:?}: {source}")]
    Decode {
        /// The record's key, with `/` between its parts.
        key: String,
        /// The decoder's answer.
        #[source]
        source: serde_json::Error,
    },
}

impl HasKind for DbError {
    fn kind(&self) -> ErrorKind {
        match self {
            DbError::Decode { .. } => ErrorKind::DataLoss,
            DbError::File { .. }
            | DbError::Open { .. }
            | DbError::Database { .. }
            | DbError::Encode { .. } => ErrorKind::Internal,
        }
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::wrap(e)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_file_failure_keeps_the_io_error_as_source() {
        let err = Error::from(DbError::File {
            what: "creating metadata directory",
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.message()
                .starts_with("creating metadata directory /x: ")
        );
        let io = err
            .source()
            .and_then(|s| s.source())
            .and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::PermissionDenied)
        );
    }
}
