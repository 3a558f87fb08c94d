//! `io.containerd.grpc.v1.introspection`: the Introspection service
//! (plugins, server uuid, deprecations).

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::GRPC;
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "introspection", &[], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let uuid = services::introspection::load_or_create_uuid(&ctx.root)?;
    grpc(services::introspection::service(
        ctx.introspection.clone(),
        uuid,
    ))
}
