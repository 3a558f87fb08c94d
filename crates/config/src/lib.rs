//! crated's configuration: the model of containerd's `config.toml`, loading
//! with imports, defaults, and rendering.
//!
//! - [`Config`] is the model; `Config::default()` holds crated's defaults
//!   (version 3, root `/var/lib/crated`, state `/run/crated`, socket
//!   `/run/crated/crated.sock`).
//! - [`Config::load`] / [`Config::load_or_default`] read a file and its
//!   `imports` (paths or globs, relative to the importing file), merge them
//!   (see below) and report unknown keys as warnings in [`LoadedConfig`].
//! - [`Config::apply`] applies command-line [`Overrides`].
//! - [`load_for_daemon`] picks crated's or containerd's default paths
//!   (containerd-compatible mode) and loads the file.
//! - [`LoadedConfig::check_plugins`] checks `[plugins."<type>.<id>"]`
//!   sections against each plugin's typed options ([`plugins`]);
//!   [`Config::inert_warnings`] names keys crated reads but does not act on.
//! - [`duration`] is the one Go-duration parser; [`migrate`] rewrites a
//!   version 1 or 2 file as version 3.
//! - [`Config::to_toml_string`] renders the full config for
//!   `crated config default` and `crated config dump`.
//!
//! Versions 1, 2 and 3 are accepted; a file without `version` is version 1.
//! Plugin sections are kept raw, keyed as written: `[plugins.<id>]` in
//! version 1, `[plugins."<type>.<id>"]` otherwise; [`Config::plugin_config`]
//! finds either.
//!
//! Merge rules (later files override earlier ones, only for keys they set):
//! scalars and arrays are replaced; `disabled_plugins` and `required_plugins`
//! accumulate; entries of `proxy_plugins`, `stream_processors` and `timeouts`
//! are replaced whole; other tables, including each plugin section, are
//! merged key by key recursively.

mod access;
mod cri_v3;
pub mod duration;
mod error;
mod glob;
mod honest;
mod load;
mod log;
mod merge;
mod migrate;
mod model;
mod paths;
pub mod plugins;
mod unknown;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use error::ConfigError;
pub use honest::{
    HONOURED_TIMEOUTS, TIMEOUT_SHIM_CLEANUP, TIMEOUT_SHIM_LOAD, TIMEOUT_SHIM_SHUTDOWN,
};
pub use load::{LoadedConfig, SourceFile};
pub use log::{LogFormat, LogLevel};
pub use migrate::{Migrated, migrate};
pub use model::{
    CONTAINERD_ADDRESS, CONTAINERD_CONFIG_PATH, CONTAINERD_ROOT, CONTAINERD_STATE, CURRENT_VERSION,
    CgroupConfig, Config, DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_ROOT, DEFAULT_STATE, DebugConfig, GrpcConfig, MetricsConfig, Overrides, ProxyPlugin,
    SUPPORTED_VERSIONS, StreamProcessor, TtrpcConfig,
};
pub use paths::{DefaultPaths, load_for_daemon};
