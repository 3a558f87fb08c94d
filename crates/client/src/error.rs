//! The client's error type; gRPC statuses decode through
//! [`crated_core::errconv`].

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use crated_core::errconv::chain_text_where;
use crated_core::{ErrorKind, HasKind};
use tonic::{Code, Status};

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to crated (or containerd).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The daemon's socket could not be reached.
    #[error(
        "connection to {} failed: {reason}; check that the daemon is running and that the address (--address) points at its socket",
        .address.display()
    )]
    Connect {
        /// The socket path that was dialled.
        address: PathBuf,
        /// Why the connection failed.
        reason: String,
    },
    /// The daemon answered with an error; its kind comes from the gRPC
    /// status code and its message is the daemon's own.
    #[error(transparent)]
    Daemon(crated_core::Error),
    /// A request got no answer within the configured request timeout.
    #[error("{operation}: no answer within {timeout:?}")]
    Timeout {
        /// What was being asked, e.g. `content info`.
        operation: &'static str,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The caller passed something the client refuses to send.
    #[error("{0}")]
    InvalidArgument(String),
    /// Reading the caller's input failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The daemon's answers broke the protocol (e.g. a stream ended early).
    #[error("{0}")]
    Protocol(String),
}

impl Error {
    /// The containerd error kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { .. } => ErrorKind::Unavailable,
            Error::Daemon(err) => err.kind(),
            Error::Timeout { .. } => ErrorKind::DeadlineExceeded,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Io { .. } => ErrorKind::Unknown,
            Error::Protocol(_) => ErrorKind::Internal,
        }
    }

    /// Whether the daemon said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Whether the daemon said the object already exists.
    pub fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }

    /// Builds the error for a failed call to the daemon at `address`. A
    /// status that tonic made up because the connection failed or broke
    /// (it has a local error as its source) becomes [`Error::Connect`];
    /// anything the daemon sent becomes [`Error::Daemon`].
    pub(crate) fn from_status(status: Status, address: &std::path::Path) -> Error {
        if matches!(status.code(), Code::Unavailable | Code::Unknown)
            && let Some(source) = status.source()
        {
            let reason = match error_chain(source) {
                chain if chain.is_empty() => status.message().to_string(),
                chain => chain,
            };
            return Error::Connect {
                address: address.to_path_buf(),
                reason,
            };
        }
        Error::Daemon(crated_core::Error::from_status(&status))
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::Protocol(message.into())
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}

impl From<crated_oci::Error> for Error {
    fn from(err: crated_oci::Error) -> Self {
        match err {
            crated_oci::Error::Io { context, source } => Error::Io { context, source },
            crated_oci::Error::InvalidArgument(message) => Error::InvalidArgument(message),
        }
    }
}

impl From<crated_core::Error> for Error {
    fn from(err: crated_core::Error) -> Self {
        Error::Daemon(err)
    }
}

/// The messages of an error and its sources, joined with `: `, skipping
/// repeats and tonic's generic "transport error".
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    chain_text_where(err, |text| text != "transport error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::errconv::bare_status;

    #[test]
    fn a_daemon_status_keeps_its_text_once() {
        let status = bare_status(ErrorKind::NotFound, "namespace \"foo\": not found");
        let err = Error::from_status(status, std::path::Path::new("/x.sock"));
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "namespace \"foo\": not found");
    }

    #[test]
    fn server_unavailable_is_not_a_connect_error() {
        let status = bare_status(ErrorKind::Unavailable, "ref locked");
        let err = Error::from_status(status, std::path::Path::new("/x.sock"));
        assert!(matches!(err, Error::Daemon(_)));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
}
