//! Errors: crated's common error with containerd's kinds, and its single
//! conversion into a ttrpc status the way containerd's `errdefs.ToGRPC` does.

use std::fmt::Display;
use std::io;

use crated_api::ttrpc::ttrpc::{self, Code};
pub use crated_core::{Error, ErrorKind};

/// Result with crated's common error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The ttrpc status code containerd uses for `kind`.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::INVALID_ARGUMENT,
        ErrorKind::NotFound => Code::NOT_FOUND,
        ErrorKind::AlreadyExists => Code::ALREADY_EXISTS,
        ErrorKind::FailedPrecondition | ErrorKind::Conflict | ErrorKind::NotModified => {
            Code::FAILED_PRECONDITION
        }
        ErrorKind::Unavailable => Code::UNAVAILABLE,
        ErrorKind::NotImplemented => Code::UNIMPLEMENTED,
        ErrorKind::Aborted => Code::ABORTED,
        ErrorKind::OutOfRange => Code::OUT_OF_RANGE,
        ErrorKind::ResourceExhausted => Code::RESOURCE_EXHAUSTED,
        ErrorKind::PermissionDenied => Code::PERMISSION_DENIED,
        ErrorKind::Unauthenticated => Code::UNAUTHENTICATED,
        ErrorKind::Internal => Code::INTERNAL,
        ErrorKind::Canceled => Code::CANCELLED,
        ErrorKind::DeadlineExceeded => Code::DEADLINE_EXCEEDED,
        ErrorKind::DataLoss => Code::DATA_LOSS,
        ErrorKind::Unknown => Code::UNKNOWN,
    }
}

/// `err` as a ttrpc status error. The message ends with the kind
/// (`container not created: not found`), which containerd's `FromGRPC`
/// strips again.
pub fn to_ttrpc(err: Error) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code(err.kind()), err.to_string()))
}

/// An I/O failure while doing `what`, keeping "not found" as such.
pub fn io_error(what: impl Display, err: io::Error) -> Error {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
        _ => ErrorKind::Unknown,
    };
    Error::new(kind, format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_code_and_containerd_message() {
        let ttrpc::Error::RpcStatus(s) = to_ttrpc(Error::not_found("container not created")) else {
            panic!("not a status");
        };
        assert_eq!(s.code(), Code::NOT_FOUND);
        assert_eq!(s.message(), "container not created: not found");
    }

    #[test]
    fn io_not_found_stays_not_found() {
        let e = io_error("opening x", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().starts_with("opening x: "));
    }
}
