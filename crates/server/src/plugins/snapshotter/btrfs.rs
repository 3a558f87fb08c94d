//! `io.containerd.snapshotter.v1.btrfs`: the btrfs subvolume snapshotter,
//! skipped when its root is not on btrfs.

use std::sync::Arc;

use super::{SnapshotterBackend, skip};
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{SNAPSHOTTER, platforms};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(SNAPSHOTTER, "btrfs", &[], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    crated_snapshots::btrfs::supported(&ctx.root).map_err(skip)?;
    let btrfs = crated_snapshots::Btrfs::new(&ctx.root)?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(SnapshotterBackend(Arc::new(btrfs))))
}
