//! crated's daemon: the plugin registry, the built-in plugins, the gRPC and
//! ttrpc service adapters and the daemon's lifecycle.

pub mod authority;
pub mod blocking;
pub mod daemon;
pub mod exchange;
pub mod gc;
pub mod host;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod plugin;
pub mod plugins;
pub mod services;
pub mod streaming;
pub mod transfer;
pub mod ttrpc_events;
pub mod unpack;
