//! `io.containerd.grpc.v1.diff`: the Diff service (apply and compare).

use std::sync::Arc;

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{DIFFER, GRPC, METADATA};
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "diff", &[DIFFER, METADATA], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let config: Arc<crated_diff::ApplyConfig> = ctx.plugins.first(DIFFER)?;
    grpc(services::diff::service(
        md.content.clone(),
        (*config).clone(),
    ))
}
