//! One error vocabulary for every crate: the kinds of containerd's errdefs.

use std::fmt;

/// The kind of a failure, mirroring containerd's `errdefs` classes. Each maps
/// to exactly one gRPC status code at the API boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Something failed for a reason that has no better class.
    Unknown,
    /// The request was malformed or named something invalid.
    InvalidArgument,
    /// The object does not exist.
    NotFound,
    /// The object already exists.
    AlreadyExists,
    /// The system is not in the state the operation needs.
    FailedPrecondition,
    /// The operation conflicts with a concurrent change.
    Conflict,
    /// The object was not modified.
    NotModified,
    /// The resource is busy or unreachable; retrying may help.
    Unavailable,
    /// The operation is not implemented.
    NotImplemented,
    /// The operation was aborted.
    Aborted,
    /// A value is out of the valid range.
    OutOfRange,
    /// A limit was hit.
    ResourceExhausted,
    /// The caller may not do this.
    PermissionDenied,
    /// The caller is not authenticated.
    Unauthenticated,
    /// An invariant broke inside crated.
    Internal,
    /// The request was cancelled by the caller.
    Canceled,
    /// The deadline passed before the operation finished.
    DeadlineExceeded,
    /// Stored data is lost or corrupt.
    DataLoss,
}

impl ErrorKind {
    /// The lower-case name containerd uses for this class, e.g. `not found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unknown => "unknown",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::FailedPrecondition => "failed precondition",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotModified => "not modified",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotImplemented => "not implemented",
            ErrorKind::Aborted => "aborted",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::ResourceExhausted => "resource exhausted",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Internal => "internal",
            ErrorKind::Canceled => "context canceled",
            ErrorKind::DeadlineExceeded => "context deadline exceeded",
            ErrorKind::DataLoss => "data loss",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a containerd kind and a message that says what failed, on
/// what, and what to do. Crate-specific error enums convert into this at the
/// service boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}: {kind}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind suffix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// `NotFound` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// `AlreadyExists` with `message`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }

    /// `InvalidArgument` with `message`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// `FailedPrecondition` with `message`.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FailedPrecondition, message)
    }

    /// `Unavailable` with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// `NotImplemented` with `message`.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }

    /// `Internal` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// `Unknown` with `message`.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unknown, message)
    }
}

/// Errors that carry a containerd kind.
pub trait HasKind {
    /// The class of this error.
    fn kind(&self) -> ErrorKind;
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Result with crated's common error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_ends_with_kind_like_containerd() {
        let err = Error::not_found("content sha256:abc");
        assert_eq!(err.to_string(), "content sha256:abc: not found");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn context_prefixes_message() {
        let err = Error::invalid_argument("bad").context("namespace \"x\"");
        assert_eq!(err.message(), "namespace \"x\": bad");
    }
}
