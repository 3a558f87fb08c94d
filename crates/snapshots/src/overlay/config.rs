//! The overlayfs snapshotter's configuration: containerd's
//! `[plugins."io.containerd.snapshotter.v1.overlayfs"]` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Configuration of the overlayfs snapshotter, with containerd's keys.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_overrides_plugin_root() {
        let mut c = OverlayConfig::default();
        assert_eq!(c.root(Path::new("/a")), PathBuf::from("/a"));
        c.root_path = "/b".into();
        assert_eq!(c.root(Path::new("/a")), PathBuf::from("/b"));
    }

    #[test]
    fn deserializes_containerd_keys() {
        let c: OverlayConfig = serde_json::from_str(
            r#"{"root_path":"/r","upperdir_label":true,"sync_remove":true,"mount_options":["volatile"]}"#,
        )
        .unwrap();
        assert!(c.upperdir_label && c.sync_remove);
        assert_eq!(c.mount_options, vec!["volatile".to_string()]);
        let d: OverlayConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, OverlayConfig::default());
    }
}
