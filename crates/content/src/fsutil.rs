//! Small filesystem helpers: I/O errors that name their path, atomic small
//! file writes, timestamp files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use crated_core::{Error, ErrorKind, Result};

/// Wraps an I/O error, saying what was being done on which path; the kind
/// comes from `crated_core::errconv`'s table and the I/O error stays the
/// source.
pub(crate) fn io_error(what: &str, path: &Path, err: io::Error) -> Error {
    crated_core::errconv::from_io(format_args!("{what} {}", path.display()), err)
}

/// Whether `err` means the path does not exist.
pub(crate) fn is_not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

/// Writes `data` to `path` atomically: a sibling temporary file is written,
/// fsynced and renamed over `path`, so a crash leaves either the old or the
/// new content, never a torn file.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    let tmp = PathBuf::from(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_error("creating", &tmp, e))?;
    file.write_all(data)
        .map_err(|e| io_error("writing", &tmp, e))?;
    file.sync_all().map_err(|e| io_error("syncing", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io_error(&format!("renaming {} to", tmp.display()), path, e))
}

/// Removes `path`, treating an absent file as success.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if !is_not_found(&e) => Err(io_error("removing", path, e)),
        _ => Ok(()),
    }
}

/// Fsyncs the directory `dir` so renames and creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing directory", dir, e))
}

/// Formats `t` the way timestamp files hold it (RFC 3339, nanoseconds).
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Writes the timestamp file `path` atomically.
pub(crate) fn write_time(path: &Path, t: DateTime<Utc>) -> Result<()> {
    write_atomic(path, format_time(t).as_bytes())
}

/// Reads a timestamp file written by [`write_time`] (or by containerd, whose
/// RFC 3339 form with any zone offset is accepted too). An absent file is
/// `NotFound`, an unparsable one `DataLoss`.
pub(crate) fn read_time(path: &Path) -> Result<DateTime<Utc>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if is_not_found(&e) => {
            return Err(Error::not_found(format!(
                "timestamp file {}",
                path.display()
            )));
        }
        Err(e) => return Err(io_error("reading", path, e)),
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::with_source(
                ErrorKind::DataLoss,
                format_args!("timestamp file {}: cannot parse {text:?}", path.display()),
                e,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_accept_offsets() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::unknown(e.to_string()))?;
        let path = dir.path().join("startedat");
        let now = Utc::now();
        write_time(&path, now)?;
        assert_eq!(read_time(&path)?, now);
        assert!(!dir.path().join("startedat.tmp").exists());

        write_atomic(&path, b"2023-04-01T12:00:00.5+02:00")?;
        assert_eq!(
            format_time(read_time(&path)?),
            "2023-04-01T10:00:00.500000000Z"
        );

        write_atomic(&path, b"yesterday")?;
        assert_eq!(
            read_time(&path).err().map(|e| e.kind()),
            Some(ErrorKind::DataLoss)
        );
        let missing = read_time(&dir.path().join("nope")).err().map(|e| e.kind());
        assert_eq!(missing, Some(ErrorKind::NotFound));
        Ok(())
    }
}
