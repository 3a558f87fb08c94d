//! The writer of one ingest: sequential appends, hashing as it goes, and a
//! commit that verifies and renames the data into the blob directory.

use std::fs::{self, File, Permissions};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::PathBuf;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use crated_core::content::{Status, Writer};
use crated_core::{Error, ErrorKind, Result};

use crate::digest::{self, Digester};
use crate::fsutil::{io_error, sync_dir, write_time};
use crate::ingest::{self, DATA_MODE, IngestPaths, OpenIngest};
use crate::locks::RefLock;

/// The mode of a committed blob: read-only, and for root only (the store
/// directory is root's too).
pub(crate) const BLOB_MODE: u32 = 0o400;

/// An open ingest. Holds the ref's lock until it is committed or dropped;
/// dropping it keeps the data so the ingest can be resumed.
pub(crate) struct LocalWriter {
    reference: String,
    paths: IngestPaths,
    /// `blobs/sha256` of the store.
    blobs_dir: PathBuf,
    /// `None` once committed or closed.
    file: Option<File>,
    digester: Digester,
    offset: u64,
    total: i64,
    expected: String,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    lock: Option<RefLock>,
}

impl LocalWriter {
    /// A writer over `ingest`, which the caller opened while holding `lock`.
    pub(crate) fn new(
        reference: String,
        paths: IngestPaths,
        blobs_dir: PathBuf,
        ingest: OpenIngest,
        lock: RefLock,
    ) -> Self {
        LocalWriter {
            reference,
            paths,
            blobs_dir,
            file: Some(ingest.file),
            digester: ingest.digester,
            offset: ingest.offset,
            total: ingest.total,
            expected: ingest.expected,
            started_at: ingest.started_at,
            updated_at: ingest.updated_at,
            lock: Some(lock),
        }
    }

    /// The open data file, or `FailedPrecondition` when the writer is closed.
    fn file(&self, action: &str) -> Result<&File> {
        self.file.as_ref().ok_or_else(|| {
            Error::failed_precondition(format!(
                "cannot {action} on closed writer for ref {}; open a new writer to resume",
                self.reference
            ))
        })
    }

    /// Releases the lock and the data file. When `keep` the ingest stays
    /// resumable: the data is synced and `updatedat` recorded (best effort).
    /// The lock goes first, so a client reopening the ref right after it
    /// closed its stream does not wait for the sync (a new writer re-reads
    /// what is on disk either way).
    fn close(&mut self, keep: bool) {
        self.lock = None;
        let file = self.file.take();
        if let Some(file) = file.filter(|_| keep) {
            if let Err(e) = file.sync_data() {
                tracing::warn!(reference = %self.reference, "syncing ingest data {}: {e}", self.paths.data.display());
            }
            if let Err(e) = write_time(&self.paths.updated_at, self.updated_at) {
                tracing::debug!(reference = %self.reference, "recording ingest update time: {e}");
            }
        }
    }

    /// Verifies the synced data against `size` and `expected`, returning its
    /// digest.
    fn verify(&self, size: i64, expected: &str) -> Result<String> {
        let file = self.file("commit")?;
        if !expected.is_empty() {
            digest::parse(expected)?;
        }
        file.sync_all()
            .map_err(|e| io_error("syncing ingest data", &self.paths.data, e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error("reading metadata of ingest data", &self.paths.data, e))?
            .len();
        if len != self.offset {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "ingest data {} is {len} bytes but {} were written to it; open a new writer for ref {} to resume from what is on disk",
                    self.paths.data.display(),
                    self.offset,
                    self.reference
                ),
            ));
        }
        if size > 0 && u64::try_from(size).ok() != Some(len) {
            return Err(Error::failed_precondition(format!(
                "unexpected commit size {len}, expected {size}"
            )));
        }
        let dgst = self.digester.digest();
        if !expected.is_empty() && expected != dgst {
            return Err(Error::failed_precondition(format!(
                "unexpected commit digest {dgst}, expected {expected}"
            )));
        }
        Ok(dgst)
    }

    /// Removes the ingest directory after its data became (or already was) a
    /// blob; failures only leave garbage behind, so they are logged.
    fn remove_ingest(&self) {
        if let Err(e) = fs::remove_dir_all(&self.paths.dir) {
            tracing::warn!(reference = %self.reference, "removing ingest directory {}: {e}", self.paths.dir.display());
        }
    }
}

impl Writer for LocalWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let file = self.file("write")?;
        if let Err(e) = file.write_all_at(data, self.offset) {
            let err = io_error(
                &format!("writing {} bytes at offset {} to", data.len(), self.offset),
                &self.paths.data,
                e,
            );
            // Drop any partial write so the file matches the hash state; if
            // even that fails, close so a new writer re-hashes from disk.
            if file.set_len(self.offset).is_err() {
                self.close(true);
                return Err(err.context("writer closed; open a new writer to resume"));
            }
            return Err(err);
        }
        self.digester.update(data);
        self.offset += data.len() as u64;
        self.updated_at = Utc::now();
        Ok(())
    }

    fn digest(&self) -> String {
        self.digester.digest()
    }

    fn status(&self) -> Result<Status> {
        Ok(Status {
            reference: self.reference.clone(),
            offset: i64::try_from(self.offset).unwrap_or(i64::MAX),
            total: self.total,
            expected: self.expected.clone(),
            started_at: self.started_at,
            updated_at: self.updated_at,
        })
    }

    fn truncate(&mut self, size: i64) -> Result<()> {
        let file = self.file("truncate")?;
        let new_len = u64::try_from(size).ok().filter(|&n| n <= self.offset);
        let Some(new_len) = new_len else {
            return Err(Error::invalid_argument(format!(
                "cannot truncate ingest of ref {} to {size} bytes: {} bytes written",
                self.reference, self.offset
            )));
        };
        file.set_len(new_len).map_err(|e| {
            io_error(
                &format!("truncating to {new_len} bytes"),
                &self.paths.data,
                e,
            )
        })?;
        let (digester, offset) = if new_len == 0 {
            (Digester::new(), 0)
        } else {
            ingest::rehash(file, &self.paths.data)?
        };
        self.digester = digester;
        self.offset = offset;
        self.updated_at = Utc::now();
        Ok(())
    }

    fn commit(&mut self, size: i64, expected: &str) -> Result<String> {
        let dgst = self.verify(size, expected)?;
        let hex = digest::parse(&dgst)?;
        let target = self.blobs_dir.join(hex);
        fs::create_dir_all(&self.blobs_dir)
            .map_err(|e| io_error("creating blob directory", &self.blobs_dir, e))?;
        if target.exists() {
            self.remove_ingest();
            self.close(false);
            return Err(Error::already_exists(format!("content {dgst}")));
        }
        let file = self.file("commit")?;
        // The blob appears only through this rename, already read-only and
        // stamped with the commit time; before it the ingest stays intact.
        if let Err(e) = file.set_modified(SystemTime::now()) {
            tracing::warn!(reference = %self.reference, "setting commit time on {}: {e}", self.paths.data.display());
        }
        file.set_permissions(Permissions::from_mode(BLOB_MODE))
            .map_err(|e| io_error("making ingest data read-only", &self.paths.data, e))?;
        if let Err(e) = fs::rename(&self.paths.data, &target) {
            let _ = file.set_permissions(Permissions::from_mode(DATA_MODE));
            let what = format!("renaming {} to", self.paths.data.display());
            return Err(io_error(&what, &target, e));
        }
        if let Err(e) = sync_dir(&self.blobs_dir) {
            tracing::warn!(digest = %dgst, "{e}");
        }
        self.remove_ingest();
        self.close(false);
        tracing::debug!(reference = %self.reference, digest = %dgst, "committed blob");
        Ok(dgst)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        self.close(true);
    }
}
