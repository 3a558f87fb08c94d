//! The tables walked kind by kind.

use std::error::Error as StdError;
use std::io;

use super::*;

#[test]
fn every_kind_round_trips_through_the_wire_text() {
    for kind in ALL_KINDS {
        let sent = Error::new(kind, "object x");
        let back = error_from_wire(wire_code(kind), &sent.to_string());
        assert_eq!(back.kind(), kind, "{kind:?}");
        assert_eq!(back.to_string(), sent.to_string(), "{kind:?}");
    }
}

#[test]
fn codes_follow_containerd_errgrpc() {
    let expected = [
        (ErrorKind::Unknown, code::UNKNOWN),
        (ErrorKind::InvalidArgument, code::INVALID_ARGUMENT),
        (ErrorKind::NotFound, code::NOT_FOUND),
        (ErrorKind::AlreadyExists, code::ALREADY_EXISTS),
        (ErrorKind::FailedPrecondition, code::FAILED_PRECONDITION),
        (ErrorKind::Conflict, code::FAILED_PRECONDITION),
        (ErrorKind::NotModified, code::FAILED_PRECONDITION),
        (ErrorKind::Unavailable, code::UNAVAILABLE),
        (ErrorKind::NotImplemented, code::UNIMPLEMENTED),
        (ErrorKind::Aborted, code::ABORTED),
        (ErrorKind::OutOfRange, code::OUT_OF_RANGE),
        (ErrorKind::ResourceExhausted, code::RESOURCE_EXHAUSTED),
        (ErrorKind::PermissionDenied, code::PERMISSION_DENIED),
        (ErrorKind::Unauthenticated, code::UNAUTHENTICATED),
        (ErrorKind::Internal, code::INTERNAL),
        (ErrorKind::Canceled, code::CANCELLED),
        (ErrorKind::DeadlineExceeded, code::DEADLINE_EXCEEDED),
        (ErrorKind::DataLoss, code::DATA_LOSS),
    ];
    assert_eq!(expected.len(), ALL_KINDS.len());
    for (kind, code) in expected {
        assert_eq!(wire_code(kind), code, "{kind:?}");
    }
}

#[test]
fn failed_precondition_tells_conflict_and_not_modified_apart() {
    let fp = code::FAILED_PRECONDITION;
    assert_eq!(
        kind_from_wire(fp, "ref x: not modified"),
        ErrorKind::NotModified
    );
    assert_eq!(kind_from_wire(fp, "conflict"), ErrorKind::Conflict);
    assert_eq!(
        kind_from_wire(fp, "a conflicting write"),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(
        kind_from_wire(fp, "unmodified"),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(kind_from_wire(code::OK, "x"), ErrorKind::Unknown);
    assert_eq!(kind_from_wire(99, "x"), ErrorKind::Unknown);
}

#[test]
fn decoding_strips_the_kind_suffix_once() {
    let err = error_from_wire(code::NOT_FOUND, "namespace \"foo\": not found");
    assert_eq!(err.message(), "namespace \"foo\"");
    assert_eq!(err.to_string(), "namespace \"foo\": not found");
    let err = error_from_wire(code::INVALID_ARGUMENT, "bad digest");
    assert_eq!(err.to_string(), "bad digest: invalid argument");
    let err = error_from_wire(code::NOT_FOUND, "not found");
    assert_eq!(err.to_string(), "request failed: not found");
    let err = error_from_wire(code::UNKNOWN, "");
    assert_eq!(err.to_string(), "request failed: unknown");
}

#[test]
fn io_kinds_map_to_containerd_classes() {
    use io::ErrorKind as Io;
    let table = [
        (Io::NotFound, ErrorKind::NotFound),
        (Io::NotADirectory, ErrorKind::NotFound),
        (Io::AlreadyExists, ErrorKind::AlreadyExists),
        (Io::PermissionDenied, ErrorKind::PermissionDenied),
        (Io::InvalidInput, ErrorKind::InvalidArgument),
        (Io::InvalidData, ErrorKind::InvalidArgument),
        (Io::UnexpectedEof, ErrorKind::DataLoss),
        (Io::Unsupported, ErrorKind::NotImplemented),
        (Io::StorageFull, ErrorKind::ResourceExhausted),
        (Io::QuotaExceeded, ErrorKind::ResourceExhausted),
        (Io::TimedOut, ErrorKind::DeadlineExceeded),
        (Io::ConnectionReset, ErrorKind::Unavailable),
        (Io::ResourceBusy, ErrorKind::Unavailable),
        (Io::DirectoryNotEmpty, ErrorKind::FailedPrecondition),
        (Io::Other, ErrorKind::Unknown),
    ];
    for (io_kind_in, kind) in table {
        assert_eq!(
            io_kind(&io::Error::from(io_kind_in)),
            kind,
            "{io_kind_in:?}"
        );
    }
    // errno values reach the table through std's own errno mapping.
    assert_eq!(
        io_kind(&io::Error::from_raw_os_error(2)),
        ErrorKind::NotFound
    );
    assert_eq!(
        io_kind(&io::Error::from_raw_os_error(13)),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn an_io_error_stays_the_source() {
    let err = from_io(
        "opening /x",
        io::Error::new(io::ErrorKind::NotFound, "gone"),
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "opening /x: gone: not found");
    let source = StdError::source(&err).and_then(|s| s.downcast_ref::<io::Error>());
    assert_eq!(source.map(io::Error::kind), Some(io::ErrorKind::NotFound));
    assert_eq!(chain_text(&err), "opening /x: gone: not found");
}

#[test]
fn an_io_error_carrying_a_crated_error_gives_it_back() {
    let inner = Error::new(ErrorKind::DataLoss, "digest mismatch");
    let wrapped = io::Error::new(io::ErrorKind::InvalidData, inner);
    assert_eq!(io_kind(&wrapped), ErrorKind::DataLoss);
    let err = from_io("reading blob", wrapped);
    assert_eq!(err.kind(), ErrorKind::DataLoss);
    assert_eq!(err.to_string(), "reading blob: digest mismatch: data loss");
}

#[cfg(feature = "grpc")]
#[test]
fn status_keeps_code_text_and_the_source_chain() {
    use tonic::{Code, Status};
    let err = from_io(
        "reading /blob",
        io::Error::new(io::ErrorKind::NotFound, "gone"),
    );
    let status = Status::from(err);
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "reading /blob: gone: not found");
    let io = StdError::source(&status)
        .and_then(StdError::source)
        .and_then(|s| s.downcast_ref::<io::Error>());
    assert_eq!(io.map(io::Error::kind), Some(io::ErrorKind::NotFound));

    for kind in ALL_KINDS {
        let status = Status::from(Error::new(kind, "x"));
        assert_eq!(
            Error::from_status(&status),
            Error::new(kind, "x"),
            "{kind:?}"
        );
    }
    let not_modified = Status::from(Error::new(ErrorKind::NotModified, "x"));
    assert_eq!(not_modified.code(), Code::FailedPrecondition);
}

#[cfg(feature = "ttrpc")]
#[test]
fn every_kind_round_trips_through_ttrpc() {
    for kind in ALL_KINDS {
        let ::ttrpc::Error::RpcStatus(status) = ::ttrpc::Error::from(Error::new(kind, "task t"))
        else {
            panic!("not a status");
        };
        assert_eq!(status.code.value(), wire_code(kind), "{kind:?}");
        assert_eq!(status.message(), format!("task t: {kind}"));
        assert_eq!(
            Error::from_ttrpc_status(&status),
            Error::new(kind, "task t"),
            "{kind:?}"
        );
    }
    assert_eq!(
        ttrpc_code(ErrorKind::NotModified),
        ::ttrpc::Code::FAILED_PRECONDITION
    );
}

#[test]
fn a_typed_error_wraps_with_its_kind_and_stays_downcastable() {
    #[derive(Debug)]
    struct Busy;
    impl std::fmt::Display for Busy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("device busy")
        }
    }
    impl StdError for Busy {}
    impl crate::HasKind for Busy {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Unavailable
        }
    }
    let err = Error::wrap(Busy);
    assert_eq!(err.to_string(), "device busy: unavailable");
    assert!(StdError::source(&err).is_some_and(|s| s.is::<Busy>()));
    assert_eq!(chain_text(&err), "device busy: unavailable");
}
