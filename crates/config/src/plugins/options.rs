//! The typed config sections of crated's plugins, with containerd's keys
//! and defaults. Each plugin's file in `crated-server` names its struct.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::PluginConfig;
use crate::duration::GoDuration;

/// `[plugins."io.containerd.snapshotter.v1.overlayfs"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverlayConfig {
    /// Where snapshots live; empty for the plugin's own root.
    pub root_path: String,
    /// Adds `containerd.io/snapshot/overlay.upperdir` (the snapshot's upper
    /// directory) to the labels Stat, Update and Walk report.
    pub upperdir_label: bool,
    /// Removes a snapshot's directory in Remove itself instead of leaving it
    /// to Cleanup (containerd's default is to leave it).
    pub sync_remove: bool,
    /// Extra options for every overlay mount. `index=…` or `userxattr`
    /// here replace the ones chosen from what the kernel supports.
    pub mount_options: Vec<String>,
}

impl OverlayConfig {
    /// The snapshotter root: `root_path` if set, else `plugin_root`.
    pub fn root(&self, plugin_root: &Path) -> PathBuf {
        if self.root_path.is_empty() {
            plugin_root.to_path_buf()
        } else {
            PathBuf::from(&self.root_path)
        }
    }
}

impl PluginConfig for OverlayConfig {}

/// `[plugins."io.containerd.runtime.v2.task"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    /// Shim binary (path, or name looked up next to crated and on PATH) per
    /// runtime name.
    pub runtime_paths: BTreeMap<String, PathBuf>,
}

impl PluginConfig for RuntimeConfig {
    /// Without a section, `io.containerd.runc.v2` and
    /// `io.containerd.crated.v1` run crated's own shim.
    fn defaults() -> Self {
        let shim = PathBuf::from("containerd-shim-crated-v1");
        RuntimeConfig {
            runtime_paths: ["io.containerd.runc.v2", "io.containerd.crated.v1"]
                .into_iter()
                .map(|name| (name.to_owned(), shim.clone()))
                .collect(),
        }
    }
}

/// `[plugins."io.containerd.differ.v1.walking"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DifferConfig {
    /// Largest uncompressed layer accepted, in bytes (0: unbounded).
    pub max_layer_size: u64,
}

impl PluginConfig for DifferConfig {}

/// `[plugins."io.containerd.gc.v1.scheduler"]`, containerd's keys and
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GcConfig {
    /// Largest fraction of time spent collecting (spaces collections out).
    pub pause_threshold: f64,
    /// Deletions that trigger a collection (0: any deletion does).
    pub deletion_threshold: u64,
    /// Mutations that trigger a collection (0: never by count).
    pub mutation_threshold: u64,
    /// Delay between a trigger and the collection, e.g. `0ms`.
    pub schedule_delay: GoDuration,
    /// Delay before the first collection after startup, e.g. `100ms`.
    pub startup_delay: GoDuration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            pause_threshold: 0.02,
            deletion_threshold: 0,
            mutation_threshold: 100,
            schedule_delay: GoDuration(Duration::ZERO),
            startup_delay: GoDuration(Duration::from_millis(100)),
        }
    }
}

impl PluginConfig for GcConfig {}

/// `[plugins."io.containerd.monitor.v1.cgroups"]`, the task monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorConfig {
    /// Leaves the task metrics out of the `[metrics]` endpoint.
    pub no_prometheus: bool,
}

impl PluginConfig for MonitorConfig {}

/// The section of a plugin that has no options: every key in it is
/// reported as unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoConfig {}

impl PluginConfig for NoConfig {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn overlay_root_path_overrides_plugin_root() {
        let mut c = OverlayConfig::default();
        assert_eq!(c.root(Path::new("/a")), PathBuf::from("/a"));
        c.root_path = "/b".into();
        assert_eq!(c.root(Path::new("/a")), PathBuf::from("/b"));
    }

    #[test]
    fn overlay_reads_containerd_keys() {
        let c: OverlayConfig = toml::from_str(
            "root_path = \"/r\"\nupperdir_label = true\nsync_remove = true\nmount_options = [\"volatile\"]",
        )
        .unwrap();
        assert!(c.upperdir_label && c.sync_remove);
        assert_eq!(c.mount_options, vec!["volatile".to_string()]);
        let d: OverlayConfig = toml::from_str("").unwrap();
        assert_eq!(d, OverlayConfig::default());
    }

    #[test]
    fn gc_accepts_every_go_duration() {
        let c: GcConfig =
            toml::from_str("schedule_delay = \"1m30s\"\nstartup_delay = \"1.5h\"").unwrap();
        assert_eq!(c.schedule_delay.get(), Duration::from_secs(90));
        assert_eq!(c.startup_delay.get(), Duration::from_secs(5400));
        let d = toml::Table::try_from(GcConfig::default()).unwrap();
        assert_eq!(d["schedule_delay"].as_str(), Some("0s"));
        assert_eq!(d["startup_delay"].as_str(), Some("100ms"));
    }
}
