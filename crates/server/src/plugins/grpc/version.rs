//! `io.containerd.grpc.v1.version`: the Version service.

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::GRPC;
use crate::services;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "version", &[], init)
}

fn init(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    grpc(services::version::service())
}
