//! The one place where errors change shape: error kind ↔ wire status code
//! (gRPC and ttrpc share the `google.rpc.Code` numbers), `std::io::Error` →
//! kind, and the printing of an error chain.
//!
//! The wire table is containerd's `errgrpc` (the `containerd/errdefs`
//! module 2.x uses): every kind has its own code except `Conflict` and
//! `NotModified`, which travel as `FailedPrecondition` and are told apart
//! on the way back by the kind name their message ends with. A message
//! keeps containerd's `<message>: <kind>` text; decoding strips that suffix
//! once, so a decoded error prints the same text again without doubling it.
//!
//! With the `grpc` feature this module converts to and from
//! `tonic::Status` (`impl From<Error> for Status`, so services use `?`);
//! with `ttrpc`, to and from ttrpc's status.

use std::error::Error as StdError;
use std::fmt::Display;
use std::io;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};

#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "ttrpc")]
mod ttrpc;
#[cfg(feature = "grpc")]
pub use grpc::{bare_status, status};
#[cfg(feature = "ttrpc")]
pub use ttrpc::{ttrpc_code, ttrpc_error};

/// The `google.rpc.Code` numbers, shared by gRPC and ttrpc.
pub mod code {
    /// Not an error.
    pub const OK: i32 = 0;
    /// The caller cancelled.
    pub const CANCELLED: i32 = 1;
    /// No better class.
    pub const UNKNOWN: i32 = 2;
    /// Malformed request.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// The deadline passed.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// No such object.
    pub const NOT_FOUND: i32 = 5;
    /// The object exists.
    pub const ALREADY_EXISTS: i32 = 6;
    /// Not allowed.
    pub const PERMISSION_DENIED: i32 = 7;
    /// A limit was hit.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// Wrong state for the operation.
    pub const FAILED_PRECONDITION: i32 = 9;
    /// Aborted.
    pub const ABORTED: i32 = 10;
    /// Out of the valid range.
    pub const OUT_OF_RANGE: i32 = 11;
    /// Not implemented.
    pub const UNIMPLEMENTED: i32 = 12;
    /// Broken invariant.
    pub const INTERNAL: i32 = 13;
    /// Busy or unreachable.
    pub const UNAVAILABLE: i32 = 14;
    /// Lost or corrupt data.
    pub const DATA_LOSS: i32 = 15;
    /// Not authenticated.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The wire code containerd sends for `kind` (`errgrpc.ToGRPC`).
pub fn wire_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Unknown => code::UNKNOWN,
        ErrorKind::InvalidArgument => code::INVALID_ARGUMENT,
        ErrorKind::NotFound => code::NOT_FOUND,
        ErrorKind::AlreadyExists => code::ALREADY_EXISTS,
        ErrorKind::FailedPrecondition | ErrorKind::Conflict | ErrorKind::NotModified => {
            code::FAILED_PRECONDITION
        }
        ErrorKind::Unavailable => code::UNAVAILABLE,
        ErrorKind::NotImplemented => code::UNIMPLEMENTED,
        ErrorKind::Aborted => code::ABORTED,
        ErrorKind::OutOfRange => code::OUT_OF_RANGE,
        ErrorKind::ResourceExhausted => code::RESOURCE_EXHAUSTED,
        ErrorKind::PermissionDenied => code::PERMISSION_DENIED,
        ErrorKind::Unauthenticated => code::UNAUTHENTICATED,
        ErrorKind::Internal => code::INTERNAL,
        ErrorKind::Canceled => code::CANCELLED,
        ErrorKind::DeadlineExceeded => code::DEADLINE_EXCEEDED,
        ErrorKind::DataLoss => code::DATA_LOSS,
    }
}

/// The kind a wire code and message decode to (`errgrpc.ToNative`):
/// `FailedPrecondition` whose message ends with `conflict` or
/// `not modified` is that kind; `OK` and unknown numbers are `Unknown`.
pub fn kind_from_wire(code: i32, message: &str) -> ErrorKind {
    match code {
        code::CANCELLED => ErrorKind::Canceled,
        code::INVALID_ARGUMENT => ErrorKind::InvalidArgument,
        code::DEADLINE_EXCEEDED => ErrorKind::DeadlineExceeded,
        code::NOT_FOUND => ErrorKind::NotFound,
        code::ALREADY_EXISTS => ErrorKind::AlreadyExists,
        code::PERMISSION_DENIED => ErrorKind::PermissionDenied,
        code::RESOURCE_EXHAUSTED => ErrorKind::ResourceExhausted,
        code::FAILED_PRECONDITION => [ErrorKind::Conflict, ErrorKind::NotModified]
            .into_iter()
            .find(|k| ends_with_kind(message, *k))
            .unwrap_or(ErrorKind::FailedPrecondition),
        code::ABORTED => ErrorKind::Aborted,
        code::OUT_OF_RANGE => ErrorKind::OutOfRange,
        code::UNIMPLEMENTED => ErrorKind::NotImplemented,
        code::INTERNAL => ErrorKind::Internal,
        code::UNAVAILABLE => ErrorKind::Unavailable,
        code::DATA_LOSS => ErrorKind::DataLoss,
        code::UNAUTHENTICATED => ErrorKind::Unauthenticated,
        _ => ErrorKind::Unknown,
    }
}

/// Whether `message` is `kind`'s name or ends with `: <kind>`.
fn ends_with_kind(message: &str, kind: ErrorKind) -> bool {
    message == kind.as_str()
        || message
            .strip_suffix(kind.as_str())
            .is_some_and(|rest| rest.ends_with(": "))
}

/// The error a wire status decodes to: its kind from [`kind_from_wire`],
/// its message without the `: <kind>` suffix (printing it adds the suffix
/// back once). A status that says nothing but its kind reads
/// `request failed`.
pub fn error_from_wire(code: i32, message: &str) -> Error {
    let kind = kind_from_wire(code, message);
    let suffix = format!(": {}", kind.as_str());
    let message = match message.strip_suffix(&suffix) {
        Some(rest) if !rest.is_empty() => rest,
        _ if message.is_empty() || message == kind.as_str() => "request failed",
        _ => message,
    };
    Error::new(kind, message)
}

/// The kind of an I/O error: the one table from `std::io::ErrorKind` to
/// containerd's classes. An I/O error that wraps a crated [`Error`] (from
/// a reader that verifies what it reads) has that error's kind.
pub fn io_kind(err: &io::Error) -> ErrorKind {
    use io::ErrorKind as Io;
    if let Some(ours) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        return ours.kind();
    }
    match err.kind() {
        Io::NotFound | Io::NotADirectory => ErrorKind::NotFound,
        Io::AlreadyExists => ErrorKind::AlreadyExists,
        Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        Io::InvalidInput | Io::InvalidData | Io::InvalidFilename => ErrorKind::InvalidArgument,
        Io::UnexpectedEof => ErrorKind::DataLoss,
        Io::Unsupported => ErrorKind::NotImplemented,
        Io::StorageFull | Io::QuotaExceeded | Io::FileTooLarge | Io::OutOfMemory => {
            ErrorKind::ResourceExhausted
        }
        Io::TimedOut => ErrorKind::DeadlineExceeded,
        Io::ConnectionRefused
        | Io::ConnectionReset
        | Io::ConnectionAborted
        | Io::NotConnected
        | Io::BrokenPipe
        | Io::ResourceBusy
        | Io::WouldBlock => ErrorKind::Unavailable,
        Io::DirectoryNotEmpty | Io::IsADirectory => ErrorKind::FailedPrecondition,
        Io::Interrupted => ErrorKind::Aborted,
        _ => ErrorKind::Unknown,
    }
}

/// An error for `what` failing with the I/O error `err`: the
/// `From<io::Error>` conversion below, with `what` in front.
pub fn from_io(what: impl Display, err: io::Error) -> Error {
    Error::from(err).context(what)
}

/// An I/O error as a crated error: its kind from [`io_kind`], its text, and
/// the I/O error kept as the source. An I/O error that wraps a crated
/// [`Error`] (from a reader that verifies what it reads) gives that error
/// back.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        let kind = io_kind(&err);
        if !err.get_ref().is_some_and(|e| e.is::<Error>()) {
            return Error::from_parts(kind, err.to_string(), Some(Arc::new(err)));
        }
        match err.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            Some(Err(other)) => Error::from_parts(kind, other.to_string(), Some(other.into())),
            None => Error::new(kind, "i/o error"),
        }
    }
}

/// A crated error carried through an [`io::Error`] (for readers and
/// writers that must answer I/O errors); [`io_kind`] and
/// `From<io::Error>` get it back whole.
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        use io::ErrorKind as Io;
        let kind = match err.kind() {
            ErrorKind::NotFound => Io::NotFound,
            ErrorKind::AlreadyExists => Io::AlreadyExists,
            ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => Io::PermissionDenied,
            ErrorKind::FailedPrecondition | ErrorKind::DataLoss | ErrorKind::InvalidArgument => {
                Io::InvalidData
            }
            ErrorKind::Unavailable => Io::ConnectionAborted,
            ErrorKind::DeadlineExceeded => Io::TimedOut,
            ErrorKind::NotImplemented => Io::Unsupported,
            _ => Io::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The texts of `err` and its sources joined with `: `, skipping a text
/// that an earlier one already contains (an [`Error`] spells out its
/// cause, and so do many wrappers).
pub fn chain_text(err: &(dyn StdError + 'static)) -> String {
    chain_text_where(err, |_| true)
}

/// Like [`chain_text`], leaving out the texts `keep` refuses (a library's
/// generic wrapper text such as tonic's `transport error`).
pub fn chain_text_where(err: &(dyn StdError + 'static), keep: impl Fn(&str) -> bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && keep(&text) && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Every kind, for tests that walk the tables.
#[cfg(test)]
pub(crate) const ALL_KINDS: [ErrorKind; 18] = [
    ErrorKind::Unknown,
    ErrorKind::InvalidArgument,
    ErrorKind::NotFound,
    ErrorKind::AlreadyExists,
    ErrorKind::FailedPrecondition,
    ErrorKind::Conflict,
    ErrorKind::NotModified,
    ErrorKind::Unavailable,
    ErrorKind::NotImplemented,
    ErrorKind::Aborted,
    ErrorKind::OutOfRange,
    ErrorKind::ResourceExhausted,
    ErrorKind::PermissionDenied,
    ErrorKind::Unauthenticated,
    ErrorKind::Internal,
    ErrorKind::Canceled,
    ErrorKind::DeadlineExceeded,
    ErrorKind::DataLoss,
];

#[cfg(test)]
mod tests;
