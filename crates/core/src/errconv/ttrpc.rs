//! crated errors ↔ ttrpc status, through the one wire table.

// The one module allowed to build statuses (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use ttrpc::{Code, Status};

use super::{error_from_wire, wire_code};
use crate::error::{Error, ErrorKind};

/// ttrpc's codes in wire-number order: `TTRPC_CODES[n]` has number `n`.
const TTRPC_CODES: [Code; 17] = [
    Code::OK,
    Code::CANCELLED,
    Code::UNKNOWN,
    Code::INVALID_ARGUMENT,
    Code::DEADLINE_EXCEEDED,
    Code::NOT_FOUND,
    Code::ALREADY_EXISTS,
    Code::PERMISSION_DENIED,
    Code::RESOURCE_EXHAUSTED,
    Code::FAILED_PRECONDITION,
    Code::ABORTED,
    Code::OUT_OF_RANGE,
    Code::UNIMPLEMENTED,
    Code::INTERNAL,
    Code::UNAVAILABLE,
    Code::DATA_LOSS,
    Code::UNAUTHENTICATED,
];

/// The ttrpc code containerd's shims send for `kind`.
pub fn ttrpc_code(kind: ErrorKind) -> Code {
    usize::try_from(wire_code(kind))
        .ok()
        .and_then(|n| TTRPC_CODES.get(n).copied())
        .unwrap_or(Code::UNKNOWN)
}

/// `err` as a ttrpc status error: the code from [`ttrpc_code`], the text
/// `<message>: <kind>`.
pub fn ttrpc_error(err: Error) -> ttrpc::Error {
    ttrpc::Error::from(err)
}

impl From<Error> for ttrpc::Error {
    fn from(err: Error) -> ttrpc::Error {
        ttrpc::Error::RpcStatus(ttrpc::get_status(ttrpc_code(err.kind()), err.to_string()))
    }
}

impl Error {
    /// The error a ttrpc status decodes to: the kind from its code, the
    /// message without the kind suffix.
    pub fn from_ttrpc_status(status: &Status) -> Error {
        error_from_wire(status.code.value(), status.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table_is_in_wire_order() {
        for (n, code) in TTRPC_CODES.iter().enumerate() {
            assert_eq!(*code as usize, n, "{code:?}");
        }
    }
}
