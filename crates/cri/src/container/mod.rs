//! CRI containers: the runtime spec of a container in a pod built from
//! the CRI's `ContainerConfig` and the image's config ([`spec`]), its
//! mounts ([`mounts`], [`volumes`]), security context and resources.

pub mod lifecycle;
pub mod logger;
pub mod mounts;
pub mod pod;
pub mod record;
mod resources;
mod rpc;
mod security;
pub mod spec;
pub mod store;
pub mod volumes;

pub use pod::PodContext;
pub use resources::{ResourceHost, cgroups_path};
pub(crate) use rpc::container_status as status_of;
pub(crate) use security::apply_seccomp;
pub use spec::{ContainerInput, SpecOptions, container_spec, process_args};
pub use store::ContainerStore;

#[cfg(test)]
mod tests;
