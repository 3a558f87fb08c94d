//! Errors: crated's common error with containerd's kinds. It becomes a
//! ttrpc status through `crated_core::errconv` (`ttrpc::Error::from`), the
//! way containerd's `errgrpc.ToGRPC` does; its text ends with the kind
//! (`container not created: not found`), which the daemon strips again.

pub use crated_core::errconv::from_io as io_error;
pub use crated_core::{Error, ErrorKind};

/// Result with crated's common error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::io;

    use crated_api::ttrpc::ttrpc::{self, Code};

    use super::*;

    #[test]
    fn status_carries_code_and_containerd_message() {
        let ttrpc::Error::RpcStatus(s) =
            ttrpc::Error::from(Error::not_found("container not created"))
        else {
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
