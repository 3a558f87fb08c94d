//! `io.containerd.grpc.v1.events`: the Events service (publish, forward,
//! subscribe).

use std::sync::Arc;

use super::grpc;
use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{EVENT, GRPC};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "events", &[EVENT], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::events::service((*events).clone()))
}
