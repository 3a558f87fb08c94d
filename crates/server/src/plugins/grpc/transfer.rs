//! `io.containerd.grpc.v1.transfer`: the Transfer service (daemon-side
//! pull and push), and the choice of its default snapshotter.

use std::sync::Arc;

use super::grpc;
use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{DIFFER, EVENT, GRPC, METADATA, STREAMING};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(
        GRPC,
        "transfer",
        &[METADATA, EVENT, STREAMING, DIFFER],
        init,
    )
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    let streams: Arc<crate::streaming::StreamManager> = ctx.plugins.first(STREAMING)?;
    let apply: Arc<crated_diff::ApplyConfig> = ctx.plugins.first(DIFFER)?;
    let snapshotters = md.snapshots.snapshotters();
    let default_snapshotter = if snapshotters.iter().any(|s| s == "overlayfs") {
        "overlayfs".to_string()
    } else {
        snapshotters.first().cloned().unwrap_or_default()
    };
    let transfer = crate::transfer::TransferContext {
        unpacker: crate::unpack::Unpacker {
            content: md.content.clone(),
            snapshots: md.snapshots.clone(),
            apply: (*apply).clone(),
        },
        images: md.images.clone(),
        leases: md.leases.clone(),
        streams: (*streams).clone(),
        events: (*events).clone(),
        gc: md.gc.clone(),
        default_snapshotter,
    };
    grpc(crate::transfer::service(transfer))
}
