//! `io.containerd.event.v1.exchange`: the event exchange every publisher
//! and subscriber shares.

use std::sync::Arc;

use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::EVENT;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(EVENT, "exchange", &[], init)
}

fn init(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    Ok(Arc::new(Exchange::default()))
}
