//! I/O failures as crated errors (kinds from `crated_core::errconv`).

use std::fmt::Display;
use std::io;

use crated_core::Error;

/// Wraps an I/O error, saying what was being done (`what` names the entry
/// or path).
pub(crate) fn io_error(what: impl Display, err: impl Into<io::Error>) -> Error {
    crated_core::errconv::from_io(what, err.into())
}

/// Shorthand for mapping `Result<T, E: Into<io::Error>>` with [`io_error`].
pub(crate) trait IoContext<T> {
    /// Maps the error with [`io_error`], computing the context lazily.
    fn ctx<D: Display>(self, what: impl FnOnce() -> D) -> crated_core::Result<T>;
}

impl<T, E: Into<io::Error>> IoContext<T> for Result<T, E> {
    fn ctx<D: Display>(self, what: impl FnOnce() -> D) -> crated_core::Result<T> {
        self.map_err(|e| io_error(what(), e))
    }
}

/// Renders raw path bytes for messages.
pub(crate) fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    #[test]
    fn maps_kinds() {
        let e = io_error("opening x", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().starts_with("opening x: "));
        let e: crated_core::Result<()> =
            Err(rustix::io::Errno::EXIST).ctx(|| format!("creating {}", show(b"a/b")));
        assert_eq!(e.unwrap_err().kind(), ErrorKind::AlreadyExists);
    }
}
