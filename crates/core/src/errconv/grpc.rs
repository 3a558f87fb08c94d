//! crated errors ↔ `tonic::Status`, through the one wire table.

// The one module allowed to build statuses (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use tonic::{Code, Status};

use super::{error_from_wire, wire_code};
use crate::error::{Error, ErrorKind};

/// The status containerd would send for `err`: its code from
/// [`wire_code`], its text `<message>: <kind>`, and `err` itself kept as the
/// status's source for the daemon's own logs.
impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let mut status = Status::new(Code::from_i32(wire_code(err.kind())), err.to_string());
        status.set_source(Arc::new(err));
        status
    }
}

/// The status for `err`, for places that build one explicitly (a stream
/// item, an introspection record); elsewhere `?` converts.
pub fn status(err: Error) -> Status {
    Status::from(err)
}

impl Error {
    /// The error a gRPC status decodes to (containerd's `errgrpc.ToNative`):
    /// the kind from its code, the message without the kind suffix.
    pub fn from_status(status: &Status) -> Error {
        error_from_wire(status.code() as i32, status.message())
    }
}

/// A status whose text is exactly `message`, without the kind suffix: the
/// few answers containerd's services build with `status.Errorf` rather
/// than from an errdefs error (e.g. content Write's `blob with expected
/// digest … exists`).
pub fn bare_status(kind: ErrorKind, message: impl Into<String>) -> Status {
    Status::new(Code::from_i32(wire_code(kind)), message.into())
}
