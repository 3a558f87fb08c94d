//! Snapshot types and the trait every snapshotter backend implements, with
//! containerd's method set and semantics. Snapshotters return mounts; they
//! never perform them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::mount::Mount;

/// The kind of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Unknown (never stored).
    Unknown,
    /// A read-only view of a parent.
    View,
    /// A writable snapshot being prepared.
    Active,
    /// A committed, immutable snapshot that can be a parent.
    Committed,
}

impl Kind {
    /// containerd's name of the kind as its `Kind.String()` writes it and
    /// `ctr snapshots ls` prints it: `View`, `Active`, `Committed`.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Unknown => "Unknown",
            Kind::View => "View",
            Kind::Active => "Active",
            Kind::Committed => "Committed",
        }
    }

    /// containerd's lower-case name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::View => "view",
            Kind::Active => "active",
            Kind::Committed => "committed",
        }
    }
}

/// What a snapshotter knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The snapshot's kind.
    pub kind: Kind,
    /// Its key (active, view) or name (committed).
    pub name: String,
    /// The name of its parent, empty if none.
    pub parent: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Disk usage of one snapshot (not counting its parents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes used.
    pub size: i64,
    /// Inodes used.
    pub inodes: i64,
}

/// A snapshotter backend. Keys are the backend's own (the metadata layer
/// maps per-namespace keys onto them).
pub trait Snapshotter: Send + Sync {
    /// The info of `key`; `NotFound` when absent.
    fn stat(&self, key: &str) -> Result<Info>;
    /// Updates labels of `info.name` per containerd's field paths (none or
    /// `labels` replace all, `labels.<k>` one key); other paths are refused.
    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info>;
    /// The usage of `key`.
    fn usage(&self, key: &str) -> Result<Usage>;
    /// The mounts of an active or view snapshot.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// Creates an active snapshot `key` on top of committed `parent` (empty
    /// for none) and returns its mounts. `AlreadyExists` if `key` is taken.
    fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>>;
    /// Creates a read-only view `key` of committed `parent`.
    fn view(&self, key: &str, parent: &str, labels: HashMap<String, String>) -> Result<Vec<Mount>>;
    /// Commits active snapshot `key` as `name`; the active one is gone after.
    fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()>;
    /// Removes `key`; `FailedPrecondition` while it has children.
    fn remove(&self, key: &str) -> Result<()>;
    /// Calls `f` with every snapshot.
    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()>;
    /// Removes directories left behind by removed snapshots.
    fn cleanup(&self) -> Result<()> {
        Ok(())
    }
}
