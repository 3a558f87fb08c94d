//! `io.containerd.snapshotter.v1.overlayfs`: the overlayfs snapshotter.

use std::sync::Arc;

use crated_config::plugins::OverlayConfig;

use super::{SnapshotterBackend, skip};
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{SNAPSHOTTER, platforms};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(SNAPSHOTTER, "overlayfs", &[], init).with_config::<OverlayConfig>()
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let config: OverlayConfig = ctx.config()?;
    let root = config.root(&ctx.root);
    crated_snapshots::overlay::supported(&root).map_err(skip)?;
    let overlay = crated_snapshots::Overlay::new(&ctx.root, config)?;
    ctx.exports
        .insert("root".into(), root.display().to_string());
    ctx.capabilities.push("remap-ids".into());
    Ok(Arc::new(SnapshotterBackend(Arc::new(overlay))))
}
