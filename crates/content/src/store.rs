//! `LocalStore`: the content store traits over a directory.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crated_core::content::{
    Info, IngestManager, Ingester, Manager, Provider, ReaderAt, Status, Writer, WriterOptions,
};
use crated_core::{Error, ErrorKind, Result};

use crate::digest;
use crate::fsutil::{io_error, is_not_found};
use crate::ingest::{self, IngestPaths};
use crate::locks::RefLock;
use crate::reader::BlobReader;
use crate::writer::LocalWriter;

/// A content store on local disk, laid out like containerd's `content/local`:
/// committed blobs at `<root>/blobs/sha256/<hex>` and in-progress writes at
/// `<root>/ingest/<sha256 hex of the ref>/`.
///
/// Blobs appear only by an atomic rename of fully written, fsynced and
/// verified data, so a crash at any point leaves every blob complete and
/// every ingest resumable or abortable.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens the store at `root`, creating `root/blobs/sha256` and
    /// `root/ingest` as needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in [
            root.join("blobs").join(digest::ALGORITHM),
            root.join("ingest"),
        ] {
            fs::create_dir_all(&dir)
                .map_err(|e| io_error("creating content store directory", &dir, e))?;
        }
        // One spelling per root, so ref locks (keyed by path) are shared by
        // every store opened on the same directory.
        // Blobs and ingests are for the daemon alone (CVE-2021-41103).
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("setting permissions of", &root, e))?;
        let root = root
            .canonicalize()
            .map_err(|e| io_error("resolving content store root", &root, e))?;
        Ok(LocalStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be) stored; `InvalidArgument`
    /// for a digest that is not `sha256:` plus 64 lowercase hex digits.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest::parse(digest)?;
        Ok(self.blobs_dir().join(hex))
    }

    /// Where the data of the ingest `reference` is (or would be) written.
    pub fn ingest_data_path(&self, reference: &str) -> PathBuf {
        self.ingest_paths(reference).data
    }

    /// Writes `data` as one blob through the ingest `reference` and returns
    /// its digest, verified against `expected` unless that is empty. Like
    /// containerd's `content.WriteBlob`, a blob that already exists is
    /// success. Any partial ingest under `reference` is restarted, and the
    /// ingest is aborted when the data fails verification.
    pub fn write_blob(&self, reference: &str, data: &[u8], expected: &str) -> Result<String> {
        let size = i64::try_from(data.len()).map_err(|_| {
            Error::invalid_argument(format!("blob of {} bytes is too large", data.len()))
        })?;
        let options = WriterOptions {
            reference: reference.to_owned(),
            total: size,
            expected: expected.to_owned(),
        };
        let mut writer = match self.writer(options) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(expected.to_owned()),
            other => other?,
        };
        let result = write_all(writer.as_mut(), data, size, expected);
        drop(writer);
        match result {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(digest::of(data)),
            Err(e) => {
                if let Err(abort) = self.abort(reference) {
                    tracing::warn!(reference, "aborting failed ingest: {abort}");
                }
                Err(e)
            }
            ok => ok,
        }
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join(digest::ALGORITHM)
    }

    fn ingest_root(&self) -> PathBuf {
        self.root.join("ingest")
    }

    fn ingest_paths(&self, reference: &str) -> IngestPaths {
        IngestPaths::new(&self.ingest_root(), reference)
    }
}

/// Restarts `writer`, writes `data` and commits it.
fn write_all(writer: &mut dyn Writer, data: &[u8], size: i64, expected: &str) -> Result<String> {
    if writer.status()?.offset != 0 {
        writer.truncate(0)?;
    }
    writer.write(data)?;
    writer.commit(size, expected)
}

/// The info of the blob `digest` from its file metadata.
fn blob_info(digest: String, metadata: &fs::Metadata) -> Info {
    let modified = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    Info {
        digest,
        size: i64::try_from(metadata.len()).unwrap_or(i64::MAX),
        created_at: modified,
        updated_at: modified,
        labels: HashMap::new(),
    }
}

fn content_not_found(digest: &str) -> Error {
    Error::not_found(format!("content {digest}"))
}

fn ingest_not_found(reference: &str) -> Error {
    Error::not_found(format!("ingest ref {reference:?}"))
}

impl Provider for LocalStore {
    fn reader_at(&self, digest: &str) -> Result<Box<dyn ReaderAt>> {
        let path = self.blob_path(digest)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if is_not_found(&e) => return Err(content_not_found(digest)),
            Err(e) => return Err(io_error(&format!("opening blob {digest} at"), &path, e)),
        };
        let size = file
            .metadata()
            .map_err(|e| io_error("reading metadata of blob", &path, e))?
            .len();
        Ok(Box::new(BlobReader::new(file, path, size)))
    }
}

impl Manager for LocalStore {
    fn info(&self, digest: &str) -> Result<Info> {
        let path = self.blob_path(digest)?;
        match fs::metadata(&path) {
            Ok(metadata) => Ok(blob_info(digest.to_owned(), &metadata)),
            Err(e) if is_not_found(&e) => Err(content_not_found(digest)),
            Err(e) => Err(io_error("reading metadata of blob", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<Info>> {
        let dir = self.blobs_dir();
        let entries = fs::read_dir(&dir).map_err(|e| io_error("listing blobs in", &dir, e))?;
        let mut infos = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing blobs in", &dir, e))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().filter(|n| digest::is_hex(n)) else {
                tracing::warn!(path = %entry.path().display(), "ignoring blob file with an invalid digest name");
                continue;
            };
            match entry.metadata() {
                Ok(metadata) => {
                    infos.push(blob_info(format!("{}:{hex}", digest::ALGORITHM), &metadata))
                }
                // Deleted since the directory was read.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(io_error("reading metadata of blob", &entry.path(), e)),
            }
        }
        infos.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(infos)
    }

    fn delete(&self, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Err(content_not_found(digest)),
            Err(e) => Err(io_error(&format!("deleting blob {digest} at"), &path, e)),
        }
    }
}

impl Ingester for LocalStore {
    fn writer(&self, options: WriterOptions) -> Result<Box<dyn Writer>> {
        let WriterOptions {
            reference,
            total,
            expected,
        } = options;
        if reference.is_empty() {
            return Err(Error::invalid_argument("ref must not be empty"));
        }
        if total < 0 {
            return Err(Error::invalid_argument(format!(
                "ref {reference}: total must not be negative, got {total}"
            )));
        }
        let paths = self.ingest_paths(&reference);
        let lock = RefLock::acquire(paths.dir.clone(), &reference)?;
        if !expected.is_empty() {
            let blob = self.blob_path(&expected)?;
            match fs::symlink_metadata(&blob) {
                Ok(_) => return Err(Error::already_exists(format!("content {expected}"))),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(io_error("checking for blob", &blob, e)),
            }
        }
        let ingest = ingest::open(&paths, &reference, total, &expected)
            .map_err(|e| e.context(format!("opening ingest for ref {reference}")))?;
        let writer = LocalWriter::new(reference, paths, self.blobs_dir(), ingest, lock);
        Ok(Box::new(writer))
    }
}

impl IngestManager for LocalStore {
    fn status(&self, reference: &str) -> Result<Status> {
        match ingest::read_status(&self.ingest_paths(reference)) {
            Ok(status) if status.reference == reference => Ok(status),
            Ok(_) => Err(ingest_not_found(reference)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(ingest_not_found(reference)),
            Err(e) => Err(e.context(format!("status of ingest ref {reference}"))),
        }
    }

    fn list_statuses(&self) -> Result<Vec<Status>> {
        let dir = self.ingest_root();
        let entries = fs::read_dir(&dir).map_err(|e| io_error("listing ingests in", &dir, e))?;
        let mut statuses = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing ingests in", &dir, e))?;
            match entry.file_type() {
                Ok(t) if t.is_dir() => {}
                _ => continue,
            }
            match ingest::read_status(&IngestPaths::in_dir(entry.path())) {
                Ok(status) => statuses.push(status),
                // Being created, committed or aborted right now, or left
                // incomplete by a crash: not an ingest (yet).
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) if e.kind() == ErrorKind::DataLoss => {
                    tracing::warn!("skipping corrupt ingest: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        statuses.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(statuses)
    }

    fn abort(&self, reference: &str) -> Result<()> {
        let dir = self.ingest_paths(reference).dir;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Err(ingest_not_found(reference)),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(ingest_not_found(reference)),
            Err(e) => Err(io_error(
                &format!("aborting ingest ref {reference}: removing"),
                &dir,
                e,
            )),
        }
    }
}
