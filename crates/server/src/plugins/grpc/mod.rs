//! `io.containerd.grpc.v1` plugins: one per gRPC service.

pub mod containers;
pub mod content;
pub mod cri;
pub mod diff;
pub mod events;
pub mod healthcheck;
pub mod images;
pub mod introspection;
pub mod leases;
pub mod namespaces;
pub mod snapshots;
pub mod streaming;
pub mod tasks;
pub mod transfer;
pub mod version;

use std::sync::Arc;

use crate::plugin::{InitError, Instance};
use crate::services::GrpcService;

/// Wraps a service as a plugin instance.
fn grpc(service: GrpcService) -> Result<Instance, InitError> {
    Ok(Arc::new(service))
}
