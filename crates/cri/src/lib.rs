//! crated's Kubernetes CRI plugin.
//!
//! - [`service`]: [`CriService`], serving `runtime.v1.RuntimeService` and
//!   `runtime.v1.ImageService` over crated's own services, reached through
//!   `crated_client` in namespace `k8s.io`.
//! - [`netns`]: pod network namespaces, created on a dedicated thread and
//!   pinned by a bind mount under crated's state directory, so they outlive
//!   every process in them and survive a daemon restart.
//! - [`cni`]: CNI networking the way containerd's CRI plugin drives it
//!   (libcni semantics): network configuration lists loaded from a
//!   directory, plugin chains invoked with ADD/CHECK/DEL, `prevResult`
//!   threading, capability arguments (`portMappings`, …), and ADD results
//!   cached under the state directory so a DEL after a crash still has what
//!   it needs.
//! - [`log`]: container log records in the CRI format kubelet reads.
//! - [`store`]: names, id prefixes and List* filters as containerd's CRI
//!   keeps them.
//! - [`streaming`]: the exec/attach/port-forward server kubelet is sent
//!   to, over SPDY/3.1 with the remotecommand subprotocols.

pub mod cni;
pub mod container;
mod error;
mod events;
mod exec;
mod image;
pub mod log;
pub mod netns;
mod recover;
mod sandbox;
pub mod service;
mod stats;
mod status;
pub mod store;
pub mod streaming;

pub use error::{Error, Result};
pub use service::{CriOptions, CriService};
