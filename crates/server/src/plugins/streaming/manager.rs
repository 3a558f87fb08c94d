//! `io.containerd.streaming.v1.manager`: the registry of open streams the
//! Streaming and Transfer services share.

use std::sync::Arc;

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::STREAMING;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(STREAMING, "manager", &[], init)
}

fn init(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    Ok(Arc::new(crate::streaming::StreamManager::default()))
}
