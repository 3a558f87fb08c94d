//! The on-disk layout of an ingest and how one is created, read and resumed.
//!
//! An ingest lives in `ingest/<sha256 hex of the ref>/` with the files
//! `data` (the bytes so far), `ref`, `startedat`, `updatedat`, and `total`
//! and `expected` when known. Metadata files are written atomically and
//! `ref` last, then `data` is created; an ingest is valid once it has both
//! `ref` and `data`. Anything less (a crash during creation) reads as absent
//! and is recreated by the next writer for that ref.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crated_core::content::Status;
use crated_core::{Error, ErrorKind, Result};

use crate::digest::{self, Digester};
use crate::fsutil::{
    io_error, is_not_found, read_time, remove_if_exists, write_atomic, write_time,
};

/// The mode of an ingest's data file while it is being written.
pub(crate) const DATA_MODE: u32 = 0o600;

/// The paths of one ingest.
#[derive(Debug, Clone)]
pub(crate) struct IngestPaths {
    pub(crate) dir: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) reference: PathBuf,
    pub(crate) started_at: PathBuf,
    pub(crate) updated_at: PathBuf,
    pub(crate) total: PathBuf,
    pub(crate) expected: PathBuf,
}

impl IngestPaths {
    /// The paths of the ingest for `reference` under `ingest_root`.
    pub(crate) fn new(ingest_root: &Path, reference: &str) -> Self {
        Self::in_dir(ingest_root.join(digest::hex_of(reference.as_bytes())))
    }

    /// The paths of the ingest in `dir`.
    pub(crate) fn in_dir(dir: PathBuf) -> Self {
        IngestPaths {
            data: dir.join("data"),
            reference: dir.join("ref"),
            started_at: dir.join("startedat"),
            updated_at: dir.join("updatedat"),
            total: dir.join("total"),
            expected: dir.join("expected"),
            dir,
        }
    }
}

/// Reads the status of the ingest at `paths` from disk. `NotFound` when the
/// ingest is absent or incomplete (no `data` or no `ref`), `DataLoss` when a
/// timestamp file is corrupt.
pub(crate) fn read_status(paths: &IngestPaths) -> Result<Status> {
    let absent = || Error::not_found(format!("ingest {}", paths.dir.display()));
    let data = match fs::metadata(&paths.data) {
        Ok(m) => m,
        Err(e) if is_not_found(&e) => return Err(absent()),
        Err(e) => return Err(io_error("reading metadata of", &paths.data, e)),
    };
    let reference = match fs::read_to_string(&paths.reference) {
        Ok(r) => r,
        Err(e) if is_not_found(&e) => return Err(absent()),
        Err(e) => return Err(io_error("reading", &paths.reference, e)),
    };
    let started_at = read_time(&paths.started_at)?;
    let mut updated_at = read_time(&paths.updated_at)?;
    // updatedat is written when a writer closes; the data file's mtime is
    // newer while a writer is active or after a crash.
    if let Ok(modified) = data.modified().map(DateTime::<Utc>::from) {
        updated_at = updated_at.max(modified);
    }
    Ok(Status {
        reference,
        offset: i64::try_from(data.len()).unwrap_or(i64::MAX),
        total: read_total(&paths.total),
        expected: read_optional(&paths.expected)?,
        started_at,
        updated_at,
    })
}

/// The `total` file's value; 0 when absent or corrupt, like containerd.
fn read_total(path: &Path) -> i64 {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().parse().unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), "ignoring corrupt ingest total {text:?}: {e}");
            0
        }),
        Err(_) => 0,
    }
}

/// The content of `path`, empty when absent.
fn read_optional(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if is_not_found(&e) => Ok(String::new()),
        Err(e) => Err(io_error("reading", path, e)),
    }
}

/// An ingest opened for writing: its data file and the state recovered or
/// created for it.
pub(crate) struct OpenIngest {
    pub(crate) file: File,
    pub(crate) digester: Digester,
    pub(crate) offset: u64,
    pub(crate) total: i64,
    pub(crate) expected: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// Opens the ingest for `reference` at `paths`, resuming it when a valid one
/// is on disk and creating (or recreating) it otherwise. The caller must
/// hold the ref's lock.
pub(crate) fn open(
    paths: &IngestPaths,
    reference: &str,
    total: i64,
    expected: &str,
) -> Result<OpenIngest> {
    match fs::create_dir(&paths.dir) {
        Ok(()) => create(paths, reference, total, expected, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            match resume(paths, reference, total, expected) {
                Ok(ingest) => Ok(ingest),
                Err(err) => {
                    tracing::info!(
                        reference,
                        path = %paths.dir.display(),
                        "cannot resume ingest, starting it over: {err}"
                    );
                    create(paths, reference, total, expected, false)
                }
            }
        }
        Err(e) => Err(io_error("creating ingest directory", &paths.dir, e)),
    }
}

/// Resumes the ingest at `paths`: checks it belongs to `reference` and agrees
/// with `total` and `expected`, then re-hashes the data written so far.
fn resume(paths: &IngestPaths, reference: &str, total: i64, expected: &str) -> Result<OpenIngest> {
    let status = read_status(paths)?;
    if status.reference != reference {
        return Err(Error::new(
            ErrorKind::DataLoss,
            format!(
                "ingest {} holds ref {:?}, not {reference:?}",
                paths.dir.display(),
                status.reference
            ),
        ));
    }
    if total > 0 && status.total > 0 && total != status.total {
        return Err(Error::failed_precondition(format!(
            "provided total {total} differs from the ingest's total {}",
            status.total
        )));
    }
    if !expected.is_empty() && !status.expected.is_empty() && expected != status.expected {
        return Err(Error::failed_precondition(format!(
            "provided digest {expected} differs from the ingest's expected digest {}",
            status.expected
        )));
    }
    let file = open_data(&paths.data, false)?;
    let (digester, offset) = rehash(&file, &paths.data)?;
    if total > 0 && status.total == 0 {
        write_atomic(&paths.total, total.to_string().as_bytes())?;
    }
    let expected = if status.expected.is_empty() && !expected.is_empty() {
        write_atomic(&paths.expected, expected.as_bytes())?;
        expected.to_owned()
    } else {
        status.expected
    };
    Ok(OpenIngest {
        file,
        digester,
        offset,
        total: if total > 0 { total } else { status.total },
        expected,
        started_at: status.started_at,
        updated_at: status.updated_at,
    })
}

/// Writes a new ingest's metadata and an empty data file. When `fresh` is
/// false the directory held an unusable ingest whose files are replaced; its
/// `ref` goes first so a crash part-way leaves an incomplete ingest, never
/// one that pairs the new ref with old data.
fn create(
    paths: &IngestPaths,
    reference: &str,
    total: i64,
    expected: &str,
    fresh: bool,
) -> Result<OpenIngest> {
    if !fresh {
        remove_if_exists(&paths.reference)?;
        remove_if_exists(&paths.data)?;
    }
    let now = Utc::now();
    write_time(&paths.started_at, now)?;
    write_time(&paths.updated_at, now)?;
    if total > 0 {
        write_atomic(&paths.total, total.to_string().as_bytes())?;
    } else if !fresh {
        remove_if_exists(&paths.total)?;
    }
    if !expected.is_empty() {
        write_atomic(&paths.expected, expected.as_bytes())?;
    } else if !fresh {
        remove_if_exists(&paths.expected)?;
    }
    write_atomic(&paths.reference, reference.as_bytes())?;
    let file = open_data(&paths.data, true)?;
    Ok(OpenIngest {
        file,
        digester: Digester::new(),
        offset: 0,
        total,
        expected: expected.to_owned(),
        started_at: now,
        updated_at: now,
    })
}

/// Opens the data file for reading and writing. A data file left read-only
/// by a crash between a commit's chmod and its rename is made writable again.
fn open_data(path: &Path, create: bool) -> Result<File> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .mode(DATA_MODE)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            fs::set_permissions(path, Permissions::from_mode(DATA_MODE))
                .map_err(|e| io_error("making ingest data writable", path, e))?;
            open()
        }
        other => other,
    }
    .map_err(|e| io_error("opening ingest data", path, e))
}

/// Hashes the whole of `file` (at `path`), returning the hash state and the
/// number of bytes, which is where writing continues.
pub(crate) fn rehash(file: &File, path: &Path) -> Result<(Digester, u64)> {
    let mut digester = Digester::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        match file.read_at(&mut buf, offset) {
            Ok(0) => return Ok((digester, offset)),
            Ok(n) => {
                digester.update(&buf[..n]);
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("re-hashing ingest data", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::unknown(e.to_string()))
    }

    #[test]
    fn ingest_dir_is_named_by_the_sha256_of_the_ref() {
        let paths = IngestPaths::new(Path::new("/root/ingest"), "");
        assert_eq!(
            paths.dir,
            Path::new(
                "/root/ingest/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
        );
        assert_eq!(paths.data, paths.dir.join("data"));
    }

    #[test]
    fn incomplete_ingest_reads_as_absent_and_is_recreated() -> Result<()> {
        let root = tempdir()?;
        let paths = IngestPaths::new(root.path(), "r");
        fs::create_dir(&paths.dir).map_err(|e| io_error("mkdir", &paths.dir, e))?;
        write_time(&paths.started_at, Utc::now())?;
        assert_eq!(
            read_status(&paths).err().map(|e| e.kind()),
            Some(ErrorKind::NotFound)
        );

        let ingest = open(&paths, "r", 5, "")?;
        assert_eq!((ingest.offset, ingest.total), (0, 5));
        let status = read_status(&paths)?;
        assert_eq!(
            (status.reference.as_str(), status.offset, status.total),
            ("r", 0, 5)
        );
        Ok(())
    }

    #[test]
    fn resume_with_conflicting_total_starts_over() -> Result<()> {
        let root = tempdir()?;
        let paths = IngestPaths::new(root.path(), "r");
        let ingest = open(&paths, "r", 10, "")?;
        ingest
            .file
            .write_all_at(b"abc", 0)
            .map_err(|e| io_error("write", &paths.data, e))?;
        drop(ingest);
        let resumed = open(&paths, "r", 0, "")?;
        assert_eq!((resumed.offset, resumed.total), (3, 10));
        drop(resumed);
        let restarted = open(&paths, "r", 7, "")?;
        assert_eq!((restarted.offset, restarted.total), (0, 7));
        assert_eq!(read_status(&paths)?.offset, 0);
        Ok(())
    }
}
