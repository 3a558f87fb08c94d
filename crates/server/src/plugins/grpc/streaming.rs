//! `io.containerd.grpc.v1.streaming`: the Streaming service.

use std::sync::Arc;

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{GRPC, STREAMING};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "streaming", &[STREAMING], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let manager: Arc<crate::streaming::StreamManager> = ctx.plugins.first(STREAMING)?;
    grpc(services::streaming::service((*manager).clone()))
}
