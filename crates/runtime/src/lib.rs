//! The runtime v2 shim manager: creates bundles, starts shim binaries
//! (`io.containerd.<name>.<version>` → `containerd-shim-<name>-<version>`),
//! talks `containerd.task.v2.Task` or `v3` to them over ttrpc, and
//! reconnects to the shims of running tasks after a daemon restart.

pub mod binary;
pub mod bootstrap;
pub mod bundle;
pub mod manager;
pub mod shim;
pub mod shim_log;
pub mod watch;

pub use manager::{
    CreateOptions, DeadHandler, DeadTask, ManagerConfig, Recovery, ShimManager, ShimTimeouts,
};
pub use shim::Shim;
