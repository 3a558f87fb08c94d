//! The configuration model: containerd's `config.toml` fields with crated's
//! defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default directory for persistent data.
pub const DEFAULT_ROOT: &str = "/var/lib/crated";
/// Default directory for transient data.
pub const DEFAULT_STATE: &str = "/run/crated";
/// Default unix socket the gRPC API listens on.
pub const DEFAULT_ADDRESS: &str = "/run/crated/crated.sock";
/// Default location of the main config file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/crated/config.toml";
/// Default maximum size of a gRPC message received or sent (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: i64 = 16 << 20;
/// containerd's main config file, read in containerd-compatible mode.
pub const CONTAINERD_CONFIG_PATH: &str = "/etc/containerd/config.toml";
/// containerd's directory for persistent data.
pub const CONTAINERD_ROOT: &str = "/var/lib/containerd";
/// containerd's directory for transient data.
pub const CONTAINERD_STATE: &str = "/run/containerd";
/// containerd's gRPC socket, where kubelet, dockerd and ctr look by default.
pub const CONTAINERD_ADDRESS: &str = "/run/containerd/containerd.sock";
/// The config version written by `Config::default()` and `crated config default`.
pub const CURRENT_VERSION: i64 = 3;
/// The config versions crated accepts (an absent or zero version means 1).
pub const SUPPORTED_VERSIONS: [i64; 3] = [1, 2, 3];

/// crated's configuration, field for field containerd's `config.toml`.
///
/// Absent keys take their defaults; the struct serializes in a stable order
/// (fields in declaration order, maps sorted by key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Version of the config format: 1, 2 or 3. In version 1, plugin sections
    /// are keyed by bare plugin id; in 2 and 3 by `<type>.<id>`.
    pub version: i64,
    /// Directory for persistent data.
    pub root: PathBuf,
    /// Directory for transient data.
    pub state: PathBuf,
    /// Directory for temporary files (empty: the system default).
    pub temp: String,
    /// Directory for dynamic plugins (unused by crated, kept for compatibility).
    pub plugin_dir: String,
    /// Further config files (paths or globs) merged over this one. After
    /// loading, the list of files actually imported.
    pub imports: Vec<String>,
    /// OOM score adjustment for the daemon process.
    pub oom_score: i64,
    /// Plugins not to initialize (ids in version 1, `<type>.<id>` otherwise).
    pub disabled_plugins: Vec<String>,
    /// Plugins whose absence or failure stops the daemon.
    pub required_plugins: Vec<String>,
    /// Use containerd's default paths (`/var/lib/containerd`,
    /// `/run/containerd`, `/run/containerd/containerd.sock`) for whatever
    /// the file does not set (crated's own key; `--containerd-compat` does
    /// the same and also reads `/etc/containerd/config.toml`).
    pub containerd_compat: bool,
    /// gRPC listener settings.
    pub grpc: GrpcConfig,
    /// ttrpc listener settings.
    pub ttrpc: TtrpcConfig,
    /// Debug listener and logging settings.
    pub debug: DebugConfig,
    /// Metrics listener settings.
    pub metrics: MetricsConfig,
    /// Cgroup placement of the daemon.
    pub cgroup: CgroupConfig,
    /// Plugins served by other processes over gRPC, keyed by name.
    pub proxy_plugins: BTreeMap<String, ProxyPlugin>,
    /// Stream processors (e.g. layer decryptors), keyed by id.
    pub stream_processors: BTreeMap<String, StreamProcessor>,
    /// Named timeouts as duration strings (e.g. `"5s"`).
    pub timeouts: BTreeMap<String, String>,
    /// Each plugin's raw configuration table, keyed as written in the file.
    /// Use [`Config::plugin_config`] to look one up.
    pub plugins: BTreeMap<String, toml::Value>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CURRENT_VERSION,
            root: PathBuf::from(DEFAULT_ROOT),
            state: PathBuf::from(DEFAULT_STATE),
            temp: String::new(),
            plugin_dir: String::new(),
            imports: Vec::new(),
            oom_score: 0,
            disabled_plugins: Vec::new(),
            required_plugins: Vec::new(),
            containerd_compat: false,
            grpc: GrpcConfig::default(),
            ttrpc: TtrpcConfig::default(),
            debug: DebugConfig::default(),
            metrics: MetricsConfig::default(),
            cgroup: CgroupConfig::default(),
            proxy_plugins: BTreeMap::new(),
            stream_processors: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            plugins: BTreeMap::new(),
        }
    }
}

/// gRPC listener settings (`[grpc]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcConfig {
    /// Unix socket path.
    pub address: String,
    /// Optional TCP address (empty: no TCP listener).
    pub tcp_address: String,
    /// CA certificate for client authentication on the TCP listener.
    pub tcp_tls_ca: String,
    /// Server certificate for the TCP listener.
    pub tcp_tls_cert: String,
    /// Server key for the TCP listener.
    pub tcp_tls_key: String,
    /// Owner uid of the socket.
    pub uid: i64,
    /// Owner gid of the socket.
    pub gid: i64,
    /// Largest message accepted, in bytes.
    pub max_recv_message_size: i64,
    /// Largest message sent, in bytes.
    pub max_send_message_size: i64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            address: DEFAULT_ADDRESS.to_owned(),
            tcp_address: String::new(),
            tcp_tls_ca: String::new(),
            tcp_tls_cert: String::new(),
            tcp_tls_key: String::new(),
            uid: 0,
            gid: 0,
            max_recv_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_send_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// ttrpc listener settings (`[ttrpc]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TtrpcConfig {
    /// Unix socket path (empty: `<grpc.address>.ttrpc`, see
    /// [`Config::ttrpc_address`]).
    pub address: String,
    /// Owner uid of the socket.
    pub uid: i64,
    /// Owner gid of the socket.
    pub gid: i64,
}

/// Debug listener and logging settings (`[debug]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugConfig {
    /// Unix socket for debug/profiling endpoints (empty: none).
    pub address: String,
    /// Owner uid of the socket.
    pub uid: i64,
    /// Owner gid of the socket.
    pub gid: i64,
    /// Log level, containerd's names (`trace`, `debug`, `info`, `warn` or
    /// `warning`, `error`, `fatal`, `panic`; empty: info). See
    /// [`crate::LogLevel`].
    pub level: String,
    /// Log format (`text` or `json`; empty: text). See [`crate::LogFormat`].
    pub format: String,
}

/// Metrics listener settings (`[metrics]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// TCP address of the metrics endpoint (empty: none).
    pub address: String,
    /// Whether to record gRPC latency histograms.
    pub grpc_histogram: bool,
}

/// Cgroup placement of the daemon (`[cgroup]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CgroupConfig {
    /// Cgroup path to move the daemon into (empty: leave it where it is).
    pub path: String,
}

/// A plugin served by another process over gRPC (`[proxy_plugins.<name>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyPlugin {
    /// Plugin kind, e.g. `snapshot` or `content`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Address of the serving process (unix socket path).
    pub address: String,
    /// Platform the plugin supports (empty: the host's).
    pub platform: String,
    /// Values the plugin exports to introspection.
    pub exports: BTreeMap<String, String>,
    /// Capabilities the plugin declares.
    pub capabilities: Vec<String>,
}

/// An external stream processor (`[stream_processors.<id>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamProcessor {
    /// Media types the processor accepts.
    pub accepts: Vec<String>,
    /// Media type the processor returns.
    pub returns: String,
    /// Path or name of the binary.
    pub path: String,
    /// Arguments to the binary.
    pub args: Vec<String>,
    /// Environment of the binary (`KEY=value`).
    pub env: Vec<String>,
}

/// Command-line values that override the file (`--root`, `--state`,
/// `--address`, `--log-level`); `None` leaves the file's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces `root`.
    pub root: Option<PathBuf>,
    /// Replaces `state`.
    pub state: Option<PathBuf>,
    /// Replaces `grpc.address`.
    pub address: Option<String>,
    /// Replaces `debug.level`.
    pub log_level: Option<String>,
}
