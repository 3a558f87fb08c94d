//! `io.containerd.grpc.v1.images`: the Images service.

use std::sync::Arc;

use super::grpc;
use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{EVENT, GRPC, METADATA};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "images", &[METADATA, EVENT], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::images::service(
        md.images.clone(),
        (*events).clone(),
        md.gc.clone(),
    ))
}
