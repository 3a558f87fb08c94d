//! `io.containerd.grpc.v1.leases`: the Leases service.

use std::sync::Arc;

use crated_metadata::Leases;

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{GRPC, LEASE, METADATA};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "leases", &[LEASE], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let leases: Arc<Leases> = ctx.plugins.first(LEASE)?;
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    grpc(services::leases::service((*leases).clone(), md.gc.clone()))
}
