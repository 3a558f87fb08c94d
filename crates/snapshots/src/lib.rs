//! crated's snapshotters, with containerd's semantics: [`Overlay`]
//! (`overlayfs`), [`Native`] (`native`) and [`Btrfs`] (`btrfs`), each
//! implementing `crated_core::snapshot::Snapshotter`, and the conformance
//! suite every snapshotter must pass (`testsuite`, behind the feature of
//! that name).
//!
//! Each backend keeps a metastore (a small redb database,
//! [`METADATA_FILE`]) in its root with, per key, the snapshot's id, kind,
//! parent, labels, timestamps and committed usage; ids come from a counter
//! and name the snapshot's directory. The rules are containerd's:
//!
//! - Prepare and View take a committed parent or none (`NotFound` for a
//!   missing one, `InvalidArgument` for one that is not committed); keys
//!   are unique (`AlreadyExists`).
//! - Commit takes only an active snapshot (`FailedPrecondition`); the name
//!   must be free (`AlreadyExists`); the snapshot keeps its id, so nothing
//!   moves on disk (except for btrfs, which snapshots it read-only).
//! - Remove refuses a snapshot that is another's parent
//!   (`FailedPrecondition`).
//! - Update changes labels only (`InvalidArgument` for other fields).
//! - Snapshotters return mounts; they never mount (the suite does, through
//!   `crated_mount`).
//!
//! New snapshot directories are made under a temporary name and renamed
//! into place inside the metastore's write transaction, which commits last;
//! a failure removes the directory, and a crash leaves at most a directory
//! that [`Snapshotter::cleanup`](crated_core::snapshot::Snapshotter::cleanup)
//! removes.

pub mod btrfs;
mod errors;
mod fsutil;
pub mod native;
pub mod overlay;
mod storage;
mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use btrfs::Btrfs;
pub use errors::StorageError;
pub use native::Native;
pub use overlay::{Overlay, OverlayConfig};
pub use store::METADATA_FILE;
