//! containerd's wire types and the server traits crated implements.
//!
//! Messages come from the `containerd-client` crate (gRPC, prost) and the
//! `containerd-shim-protos` crate (ttrpc, rust-protobuf). This crate adds the
//! tonic server side of every containerd gRPC service, generated at build
//! time, and re-exports everything under one roof. It holds no logic.

pub use containerd_client as grpc;
pub use containerd_client::{events, google, services, types};
pub use containerd_shim_protos as ttrpc;
/// Kubernetes CRI v1 (`runtime.v1.RuntimeService`, `runtime.v1.ImageService`):
/// messages, clients and server traits.
pub use k8s_cri::v1 as cri;
pub use prost;
pub use prost_types;
pub use tonic;

/// Tonic server traits, one module per containerd gRPC service.
#[allow(missing_docs, clippy::all)]
pub mod server {
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.version.v1.Version.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.introspection.v1.Introspection.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.namespaces.v1.Namespaces.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.events.v1.Events.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.leases.v1.Leases.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.content.v1.Content.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.containers.v1.Containers.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.images.v1.Images.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.snapshots.v1.Snapshots.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.diff.v1.Diff.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.tasks.v1.Tasks.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.streaming.v1.Streaming.rs"
    ));
    include!(concat!(
        env!("OUT_DIR"),
        "/containerd.services.transfer.v1.Transfer.rs"
    ));
}

/// The gRPC metadata key that carries the namespace of a request.
pub const NAMESPACE_HEADER: &str = "containerd-namespace";
/// The ttrpc metadata key that carries the namespace of a request.
pub const NAMESPACE_HEADER_TTRPC: &str = "containerd-namespace-ttrpc";
/// containerd's default maximum gRPC message size (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// `google.protobuf.Empty`, which prost maps to the unit type.
pub type Empty = ();
