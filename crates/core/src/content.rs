//! Content store types and the traits a content store backend implements,
//! split the way containerd splits them: reading (`Provider`), info and
//! delete (`Manager`), writing (`Ingester`), in-progress writes
//! (`IngestManager`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::Result;

/// What the store knows about one committed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The blob's digest, `algorithm:hex`.
    pub digest: String,
    /// The blob's size in bytes.
    pub size: i64,
    /// When the blob was committed.
    pub created_at: DateTime<Utc>,
    /// When the blob's info last changed.
    pub updated_at: DateTime<Utc>,
    /// Labels on the blob (empty in a backend that does not keep labels).
    pub labels: HashMap<String, String>,
}

/// The state of an in-progress write (an ingest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The ref the writer was opened with.
    pub reference: String,
    /// Bytes written so far.
    pub offset: i64,
    /// The expected total size, 0 when unknown.
    pub total: i64,
    /// The expected digest, empty when unknown.
    pub expected: String,
    /// When the ingest started.
    pub started_at: DateTime<Utc>,
    /// When the ingest last received data.
    pub updated_at: DateTime<Utc>,
}

/// Reads a committed blob at arbitrary offsets.
pub trait ReaderAt: Send + Sync {
    /// Reads into `buf` from `offset`; returns the bytes read, 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;
    /// The blob's size.
    fn size(&self) -> u64;
}

/// Gives readers of committed blobs.
pub trait Provider: Send + Sync {
    /// A reader of the blob `digest`; `NotFound` when absent.
    fn reader_at(&self, digest: &str) -> Result<Box<dyn ReaderAt>>;
}

/// Inspects and deletes committed blobs.
pub trait Manager: Send + Sync {
    /// The info of `digest`; `NotFound` when absent.
    fn info(&self, digest: &str) -> Result<Info>;
    /// Every committed blob.
    fn list(&self) -> Result<Vec<Info>>;
    /// Removes the blob; `NotFound` when absent.
    fn delete(&self, digest: &str) -> Result<()>;
    /// Updates the labels of `info.digest` per containerd's field paths
    /// (none or `labels` replace all, `labels.<k>` one key; an empty value
    /// removes a label) and returns the new info. A store that keeps no
    /// labels answers `NotImplemented`.
    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        let _ = fieldpaths;
        Err(crate::Error::not_implemented(format!(
            "updating labels of {}: this content store keeps no labels (use the metadata layer's namespaced store)",
            info.digest
        )))
    }
}

/// Options for opening a writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterOptions {
    /// The ref identifying the ingest; reopening a ref resumes it.
    pub reference: String,
    /// The expected total size, 0 when unknown.
    pub total: i64,
    /// The expected digest, empty when unknown.
    pub expected: String,
}

/// An open ingest. Dropping it releases the ref without removing the data,
/// so the ingest can be resumed later.
pub trait Writer: Send {
    /// Appends `data` at the current offset.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// The digest of the bytes written so far.
    fn digest(&self) -> String;
    /// The current state of the ingest.
    fn status(&self) -> Result<Status>;
    /// Discards everything after `size`; only 0 is required to be supported.
    fn truncate(&mut self, size: i64) -> Result<()>;
    /// Verifies `size` (when > 0) and `expected` (when not empty) and moves
    /// the data into the store, returning the committed digest. A blob that
    /// already exists yields `AlreadyExists` and the ingest is removed.
    fn commit(&mut self, size: i64, expected: &str) -> Result<String>;
}

/// Opens writers.
pub trait Ingester: Send + Sync {
    /// Opens or resumes the ingest named by `options.reference`. A ref
    /// already held by another writer yields `Unavailable`; a blob that
    /// already exists with the expected digest yields `AlreadyExists`.
    fn writer(&self, options: WriterOptions) -> Result<Box<dyn Writer>>;
}

/// Manages in-progress writes.
pub trait IngestManager: Send + Sync {
    /// The status of the ingest `reference`; `NotFound` when absent.
    fn status(&self, reference: &str) -> Result<Status>;
    /// Every in-progress ingest.
    fn list_statuses(&self) -> Result<Vec<Status>>;
    /// Removes the ingest `reference` and its data; `NotFound` when absent.
    fn abort(&self, reference: &str) -> Result<()>;
}

/// A full content store backend.
pub trait ContentStore: Provider + Manager + Ingester + IngestManager {}

impl<T: Provider + Manager + Ingester + IngestManager> ContentStore for T {}
