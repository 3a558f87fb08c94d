//! The introspection service: which plugins the daemon runs, and who it is.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_api::services::v1::introspection_client::IntrospectionClient;
use crated_api::services::v1::{self as api, PluginsRequest};
use crated_core::ErrorKind;

use crate::client::Client;
use crate::convert;
use crate::error::Result;

/// The message containerd puts in a plugin's init error when the plugin
/// chose not to load (`plugin.ErrSkipPlugin`).
const SKIP_PLUGIN: &str = "skip plugin";

/// Handle on the introspection service.
#[derive(Debug, Clone)]
pub struct Introspection {
    client: Client,
}

/// One plugin the daemon registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// The plugin type, e.g. `io.containerd.snapshotter.v1`.
    pub kind: String,
    /// The plugin id, unique within its type, e.g. `overlayfs`.
    pub id: String,
    /// The plugin types this plugin requires.
    pub requires: Vec<String>,
    /// The platforms the plugin supports; empty means all.
    pub platforms: Vec<Platform>,
    /// Values the plugin exports, e.g. a snapshotter's root.
    pub exports: HashMap<String, String>,
    /// Feature switches the plugin advertises.
    pub capabilities: Vec<String>,
    /// Why the plugin did not initialise, if it did not.
    pub init_error: Option<PluginError>,
}

/// A platform, as `os/architecture[/variant]` (the one model,
/// `crated_images`'s).
pub use crated_images::Platform;

/// The error a plugin's initialisation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The gRPC status code number.
    pub code: i32,
    /// The error kind of that code.
    pub kind: ErrorKind,
    /// The error message.
    pub message: String,
}

/// Whether a plugin is loaded, as `ctr plugins ls` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginStatus {
    /// Initialised.
    Ok,
    /// Chose not to load (e.g. unsupported on this host).
    Skip,
    /// Failed to initialise.
    Error,
}

impl PluginStatus {
    /// `ok`, `skip` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Ok => "ok",
            PluginStatus::Skip => "skip",
            PluginStatus::Error => "error",
        }
    }
}

impl std::fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Plugin {
    /// Loaded, skipped or failed, decided the way `ctr` decides it.
    pub fn status(&self) -> PluginStatus {
        match &self.init_error {
            None => PluginStatus::Ok,
            Some(err) if err.message.contains(SKIP_PLUGIN) => PluginStatus::Skip,
            Some(_) => PluginStatus::Error,
        }
    }
}

impl PluginError {
    /// The gRPC name of the code, as Go prints it (`Unknown`, `NotFound`,
    /// …, or `Code(n)`).
    pub fn code_name(&self) -> String {
        const NAMES: [&str; 17] = [
            "OK",
            "Canceled",
            "Unknown",
            "InvalidArgument",
            "DeadlineExceeded",
            "NotFound",
            "AlreadyExists",
            "PermissionDenied",
            "ResourceExhausted",
            "FailedPrecondition",
            "Aborted",
            "OutOfRange",
            "Unimplemented",
            "Internal",
            "Unavailable",
            "DataLoss",
            "Unauthenticated",
        ];
        usize::try_from(self.code)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or_else(|| format!("Code({})", self.code), |n| n.to_string())
    }
}

/// Who the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The daemon's UUID, stable across restarts.
    pub uuid: String,
    /// The daemon's process id.
    pub pid: u64,
    /// The inode of the daemon's PID namespace.
    pub pidns: u64,
    /// Deprecated features the daemon saw in use.
    pub deprecations: Vec<Deprecation>,
}

/// A deprecated feature in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// The deprecation's id, e.g. `io.containerd.deprecation/pull-schema-1-image`.
    pub id: String,
    /// What is deprecated and what to do.
    pub message: String,
    /// When it was last used, if known.
    pub last_occurrence: Option<DateTime<Utc>>,
}

impl Introspection {
    pub(crate) fn new(client: Client) -> Self {
        Introspection { client }
    }

    fn grpc(&self) -> IntrospectionClient<tonic::transport::Channel> {
        grpc_client!(self.client, IntrospectionClient)
    }

    /// The plugins matching any of `filters` (containerd filter syntax,
    /// e.g. `type==io.containerd.snapshotter.v1`); all when empty.
    pub async fn plugins(&self, filters: &[String]) -> Result<Vec<Plugin>> {
        let request = self.client.unary_request(PluginsRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("introspection plugins", self.grpc().plugins(request))
            .await?;
        Ok(response.plugins.into_iter().map(plugin_from_api).collect())
    }

    /// The daemon's identity and deprecation warnings.
    pub async fn server(&self) -> Result<ServerInfo> {
        let request = self.client.unary_request(())?;
        let response = self
            .client
            .unary("introspection server", self.grpc().server(request))
            .await?;
        Ok(ServerInfo {
            uuid: response.uuid,
            pid: response.pid,
            pidns: response.pidns,
            deprecations: response
                .deprecations
                .into_iter()
                .map(|d| Deprecation {
                    last_occurrence: convert::optional_time(d.last_occurrence.as_ref()),
                    id: d.id,
                    message: d.message,
                })
                .collect(),
        })
    }
}

fn plugin_from_api(p: api::Plugin) -> Plugin {
    Plugin {
        kind: p.r#type,
        id: p.id,
        requires: p.requires,
        platforms: p
            .platforms
            .into_iter()
            .map(|p| Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant,
                os_version: p.os_version,
            })
            .collect(),
        exports: p.exports,
        capabilities: p.capabilities,
        init_error: p.init_err.map(|s| PluginError {
            code: s.code,
            kind: crated_core::errconv::kind_from_wire(s.code, &s.message),
            message: s.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(err: Option<&str>) -> Plugin {
        Plugin {
            kind: "io.containerd.snapshotter.v1".into(),
            id: "btrfs".into(),
            requires: vec![],
            platforms: vec![],
            exports: HashMap::new(),
            capabilities: vec![],
            init_error: err.map(|m| PluginError {
                code: 2,
                kind: ErrorKind::Unknown,
                message: m.into(),
            }),
        }
    }

    #[test]
    fn status_like_ctr() {
        assert_eq!(plugin(None).status(), PluginStatus::Ok);
        assert_eq!(
            plugin(Some("path /x must be a btrfs filesystem: skip plugin")).status(),
            PluginStatus::Skip
        );
        assert_eq!(plugin(Some("boom")).status(), PluginStatus::Error);
        let code = |code| PluginError {
            code,
            kind: ErrorKind::Unknown,
            message: String::new(),
        };
        assert_eq!(code(2).code_name(), "Unknown");
        assert_eq!(code(9).code_name(), "FailedPrecondition");
        assert_eq!(code(42).code_name(), "Code(42)");
    }

    #[test]
    fn platform_display() {
        let p = Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: "v7".into(),
            os_version: String::new(),
        };
        assert_eq!(p.to_string(), "linux/arm/v7");
    }
}
