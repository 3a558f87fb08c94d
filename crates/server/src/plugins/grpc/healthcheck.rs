//! `io.containerd.grpc.v1.healthcheck`: gRPC health checking.

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::GRPC;
use crate::services::GrpcService;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "healthcheck", &[], init)
}

fn init(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    grpc(GrpcService::new(|routes, limits| {
        let (_, health) = tonic_health::server::health_reporter();
        crate::services::limited!(routes, limits, health)
    }))
}
