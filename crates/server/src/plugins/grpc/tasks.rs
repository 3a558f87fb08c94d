//! `io.containerd.grpc.v1.tasks`: the Tasks service over the runtime v2
//! shim manager.

use std::sync::Arc;

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{GRPC, METADATA, RUNTIME};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "tasks", &[RUNTIME, METADATA], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let manager: Arc<Arc<crated_runtime::ShimManager>> = ctx.plugins.first(RUNTIME)?;
    grpc(services::tasks::service(
        (*manager).clone(),
        md.containers.clone(),
        md.content.clone(),
        Some(md.snapshots.clone()),
        ctx.introspection.clone(),
    ))
}
