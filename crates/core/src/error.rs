//! One error vocabulary for every crate: the kinds of containerd's errdefs.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

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

/// The cause an [`Error`] carries: any error, shared so `Error` stays `Clone`.
pub type Source = Arc<dyn StdError + Send + Sync + 'static>;

/// An error with a containerd kind and a message that says what failed, on
/// what, and what to do. Crate-specific error enums convert into this at the
/// service boundary.
///
/// It prints as containerd does, `<message>: <kind>`. An error made with
/// [`Error::with_source`] (or [`Error::from_io`](crate::errconv)) keeps its
/// cause: the cause's text is part of the message, as with Go's
/// `fmt.Errorf("%s: %w")`, so the wire text carries it, and
/// [`std::error::Error::source`] returns the cause itself for callers that
/// inspect it. Chain printers skip the repeat (see
/// [`errconv::chain_text`](crate::errconv::chain_text)).
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message, self.kind)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Two errors are equal when their kind and message are: the cause is
/// already spelled out in the message.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::from_parts(kind, message.into(), None)
    }

    /// An error of `kind` saying `message`, caused by `source`: the message
    /// becomes `<message>: <source>` and [`std::error::Error::source`]
    /// returns `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl fmt::Display,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::with_shared_source(kind, message, Arc::new(source))
    }

    /// Like [`Error::with_source`], for a cause that is already shared.
    pub fn with_shared_source(kind: ErrorKind, message: impl fmt::Display, source: Source) -> Self {
        Self::from_parts(kind, format!("{message}: {source}"), Some(source))
    }

    /// An error from its three parts, the message taken as it is.
    pub(crate) fn from_parts(kind: ErrorKind, message: String, source: Option<Source>) -> Self {
        Error {
            kind,
            message,
            source,
        }
    }

    /// `err` itself as a crated error: its kind and text, and `err` kept as
    /// the source so callers can still downcast to it. Crate error enums
    /// convert into [`Error`] with this. A text that already ends with the
    /// kind (it wraps a crated error) keeps it once.
    pub fn wrap<E: HasKind + StdError + Send + Sync + 'static>(err: E) -> Self {
        let kind = err.kind();
        let text = err.to_string();
        let message = text
            .strip_suffix(&format!(": {kind}"))
            .map_or_else(|| text.clone(), str::to_string);
        Self::from_parts(kind, message, Some(Arc::new(err)))
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind suffix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The cause this error carries, if any (the same as
    /// [`std::error::Error::source`], with its sharing and thread bounds).
    pub fn cause(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// Prefixes the message with what was being done; the cause stays.
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
    fn a_wrapped_crated_error_names_its_kind_once() {
        #[derive(Debug)]
        struct Outer(Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "pulling \"x\": {}", self.0)
            }
        }
        impl StdError for Outer {}
        impl HasKind for Outer {
            fn kind(&self) -> ErrorKind {
                self.0.kind()
            }
        }
        let err = Error::wrap(Outer(Error::new(
            ErrorKind::Unauthenticated,
            "401 from the registry",
        )));
        assert_eq!(
            err.to_string(),
            "pulling \"x\": 401 from the registry: unauthenticated"
        );
    }

    #[test]
    fn context_prefixes_message() {
        let err = Error::invalid_argument("bad").context("namespace \"x\"");
        assert_eq!(err.message(), "namespace \"x\": bad");
    }

    #[test]
    fn with_source_keeps_the_cause_and_its_text() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::with_source(ErrorKind::Internal, "writing blob", io).context("commit");
        assert_eq!(
            err.to_string(),
            "commit: writing blob: disk on fire: internal"
        );
        let cause = StdError::source(&err).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("disk on fire"));
        let io = err.cause().and_then(|c| c.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::Other)
        );
    }

    #[test]
    fn equality_ignores_the_shared_cause() {
        let a = Error::with_source(ErrorKind::NotFound, "x", std::io::Error::other("y"));
        assert_eq!(a, Error::not_found("x: y"));
        assert_ne!(a, Error::unknown("x: y"));
    }
}
