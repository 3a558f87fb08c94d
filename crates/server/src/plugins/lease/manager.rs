//! `io.containerd.lease.v1.manager`: the lease manager of the metadata
//! database.

use std::sync::Arc;

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{LEASE, METADATA};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(LEASE, "manager", &[METADATA], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    Ok(Arc::new(md.leases.clone()))
}
