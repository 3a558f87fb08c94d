//! `io.containerd.gc.v1.scheduler`: the garbage collection scheduler
//! (`crate::gc`).

use std::sync::Arc;

use crated_config::plugins::GcConfig;

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::metadata::bolt::Metadata;
use crate::plugins::{GC, METADATA};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GC, "scheduler", &[METADATA], init).with_config::<GcConfig>()
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let config: GcConfig = ctx.config()?;
    let targets = crate::gc::GcTargets {
        db: md.db.clone(),
        content: md.content.clone(),
        snapshots: md.snapshots.clone(),
    };
    crate::gc::start(config, targets, &md.gc)?;
    Ok(Arc::new(md.gc.clone()))
}
