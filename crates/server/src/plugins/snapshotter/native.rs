//! `io.containerd.snapshotter.v1.native`: the copying snapshotter that
//! works on any filesystem.

use std::sync::Arc;

use super::SnapshotterBackend;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{SNAPSHOTTER, platforms};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(SNAPSHOTTER, "native", &[], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let native = crated_snapshots::Native::new(&ctx.root)?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(SnapshotterBackend(Arc::new(native))))
}
