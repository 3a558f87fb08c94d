//! Building `crated_core::Error`s that name what failed and on what.

use std::io;
use std::path::Path;

use crated_core::Error;

/// An error for `what` failing on `path` with `e`.
pub(crate) fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    crated_core::errconv::from_io(format_args!("{what} {}", path.display()), e)
}

/// An error for `what` failing on `path` with `errno`.
pub(crate) fn errno_error(what: &str, path: &Path, errno: nix::errno::Errno) -> Error {
    io_error(what, path, io::Error::from(errno))
}

/// An error of the snapshot metadata database.
pub(crate) fn db_error(e: impl Into<redb::Error>) -> Error {
    Error::internal(format!("snapshot metadata database: {}", e.into()))
}
