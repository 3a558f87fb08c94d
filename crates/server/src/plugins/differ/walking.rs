//! `io.containerd.differ.v1.walking`: the layer applier and comparer
//! settings the Diff and Transfer services use.

use std::sync::Arc;

use crated_config::plugins::DifferConfig;

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{DIFFER, METADATA, platforms};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(DIFFER, "walking", &[METADATA], init).with_config::<DifferConfig>()
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let config: DifferConfig = ctx.config()?;
    let max_size = (config.max_layer_size > 0).then_some(config.max_layer_size);
    Ok(Arc::new(crated_diff::ApplyConfig { max_size }))
}
