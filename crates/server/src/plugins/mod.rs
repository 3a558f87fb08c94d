//! The built-in plugins, one file per plugin as containerd's
//! `plugins/<kind>/<id>`: `plugins/<type>/<id>.rs` holds the plugin's
//! registration, names its config struct (from `crated_config::plugins`)
//! and has its init. [`registrations`] is the one list naming them all.

pub mod content;
pub mod differ;
pub mod event;
pub mod gc;
pub mod grpc;
pub mod lease;
pub mod metadata;
pub mod monitor;
pub mod runtime;
pub mod snapshotter;
pub mod streaming;

use crate::plugin::{InitContext, Registration};

/// Plugin type of the event exchange.
pub const EVENT: &str = "io.containerd.event.v1";
/// Plugin type of content stores.
pub const CONTENT: &str = "io.containerd.content.v1";
/// Plugin type of the metadata store.
pub const METADATA: &str = "io.containerd.metadata.v1";
/// Plugin type of the lease manager.
pub const LEASE: &str = "io.containerd.lease.v1";
/// Plugin type of gRPC services.
pub const GRPC: &str = "io.containerd.grpc.v1";
/// Plugin type of snapshotters.
pub const SNAPSHOTTER: &str = "io.containerd.snapshotter.v1";
/// Plugin type of the garbage collection scheduler.
pub const GC: &str = "io.containerd.gc.v1";
/// Plugin type of differs.
pub const DIFFER: &str = "io.containerd.differ.v1";
/// Plugin type of the stream manager.
pub const STREAMING: &str = "io.containerd.streaming.v1";
/// Plugin type of the runtime v2 task manager.
pub const RUNTIME: &str = "io.containerd.runtime.v2";
/// Plugin type of the task monitor.
pub const MONITOR: &str = "io.containerd.monitor.v1";

/// Every built-in plugin. The daemon initialises them in dependency order.
pub fn registrations() -> Vec<Registration> {
    vec![
        event::exchange::registration(),
        content::content::registration(),
        snapshotter::btrfs::registration(),
        snapshotter::native::registration(),
        snapshotter::overlayfs::registration(),
        metadata::bolt::registration(),
        runtime::task::registration(),
        monitor::cgroups::registration(),
        lease::manager::registration(),
        gc::scheduler::registration(),
        differ::walking::registration(),
        streaming::manager::registration(),
        grpc::version::registration(),
        grpc::introspection::registration(),
        grpc::namespaces::registration(),
        grpc::events::registration(),
        grpc::leases::registration(),
        grpc::content::registration(),
        grpc::images::registration(),
        grpc::containers::registration(),
        grpc::snapshots::registration(),
        grpc::tasks::registration(),
        grpc::diff::registration(),
        grpc::streaming::registration(),
        grpc::transfer::registration(),
        grpc::cri::registration(),
        grpc::healthcheck::registration(),
    ]
}

fn host_platform() -> String {
    crated_images::Platform::host().to_string()
}

/// Records that the plugin supports this host's platform.
pub(crate) fn platforms(ctx: &mut InitContext<'_>) {
    ctx.platforms.push(host_platform());
}

/// The platform string of this host, `linux/<arch>`.
pub fn platform() -> String {
    host_platform()
}
