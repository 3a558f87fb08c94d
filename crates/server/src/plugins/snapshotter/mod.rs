//! `io.containerd.snapshotter.v1` plugins.

pub mod btrfs;
pub mod native;
pub mod overlayfs;

use std::sync::Arc;

use crated_core::snapshot::Snapshotter;

use crate::plugin::InitError;

/// A snapshotter backend a snapshotter plugin provides.
pub struct SnapshotterBackend(pub Arc<dyn Snapshotter>);

/// Turns a failed host check into a skip.
fn skip(e: crated_core::Error) -> InitError {
    InitError::Skip(format!("{}: skip plugin", e.message()))
}
