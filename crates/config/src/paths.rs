//! Which default paths apply: crated's own, or containerd's in
//! containerd-compatible mode (so kubelet, dockerd, ctr and nerdctl find the
//! daemon with no flags).

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::load::LoadedConfig;
use crate::model::{
    CONTAINERD_ADDRESS, CONTAINERD_CONFIG_PATH, CONTAINERD_ROOT, CONTAINERD_STATE, Config,
    DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_ROOT, DEFAULT_STATE,
};

/// The default config file, root, state and socket of one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPaths {
    /// The config file read when none is given.
    pub config: PathBuf,
    /// Persistent data.
    pub root: PathBuf,
    /// Transient data.
    pub state: PathBuf,
    /// The gRPC socket.
    pub address: String,
}

impl DefaultPaths {
    /// crated's own paths (`/etc/crated/config.toml`, `/var/lib/crated`,
    /// `/run/crated`, `/run/crated/crated.sock`).
    pub fn crated() -> Self {
        DefaultPaths {
            config: DEFAULT_CONFIG_PATH.into(),
            root: DEFAULT_ROOT.into(),
            state: DEFAULT_STATE.into(),
            address: DEFAULT_ADDRESS.into(),
        }
    }

    /// containerd's paths (`/etc/containerd/config.toml`,
    /// `/var/lib/containerd`, `/run/containerd`,
    /// `/run/containerd/containerd.sock`).
    pub fn containerd() -> Self {
        DefaultPaths {
            config: CONTAINERD_CONFIG_PATH.into(),
            root: CONTAINERD_ROOT.into(),
            state: CONTAINERD_STATE.into(),
            address: CONTAINERD_ADDRESS.into(),
        }
    }

    /// The paths of the mode: containerd's when `containerd_compat`.
    pub fn for_mode(containerd_compat: bool) -> Self {
        if containerd_compat {
            Self::containerd()
        } else {
            Self::crated()
        }
    }

    /// crated's defaults with these paths.
    pub fn base_config(&self) -> Config {
        let mut config = Config::default();
        config.root.clone_from(&self.root);
        config.state.clone_from(&self.state);
        config.grpc.address.clone_from(&self.address);
        config
    }
}

/// Loads the configuration the daemon runs with, given the `--config` and
/// `--containerd-compat` flags.
///
/// Without `--config`, the mode's default file is read if it exists.
/// `--containerd-compat`, or `containerd_compat = true` in the file, makes
/// containerd's paths the defaults for whatever the file does not set.
pub fn load_for_daemon(
    config_flag: Option<&Path>,
    compat_flag: bool,
) -> Result<LoadedConfig, ConfigError> {
    let paths = DefaultPaths::for_mode(compat_flag);
    let file = config_flag.map_or_else(|| paths.config.clone(), Path::to_path_buf);
    let explicit = config_flag.is_some();
    let loaded = Config::load_or_default_over(&file, explicit, &paths.base_config())?;
    if loaded.config.containerd_compat && !compat_flag {
        let mut again = Config::load_or_default_over(
            &file,
            explicit,
            &DefaultPaths::containerd().base_config(),
        )?;
        again.config.containerd_compat = true;
        return Ok(again);
    }
    let mut loaded = loaded;
    loaded.config.containerd_compat |= compat_flag;
    Ok(loaded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn modes_pick_their_paths() {
        let crated = load_for_daemon(Some(Path::new("/nonexistent/default")), false);
        assert!(matches!(crated, Err(ConfigError::NotFound { .. })));
        assert_eq!(DefaultPaths::for_mode(false), DefaultPaths::crated());
        let c = DefaultPaths::containerd().base_config();
        assert_eq!(c.root, PathBuf::from("/var/lib/containerd"));
        assert_eq!(c.state, PathBuf::from("/run/containerd"));
        assert_eq!(c.grpc.address, "/run/containerd/containerd.sock");
        assert_eq!(
            c.ttrpc_address(),
            PathBuf::from("/run/containerd/containerd.sock.ttrpc")
        );
        assert_eq!(
            DefaultPaths::containerd().config,
            PathBuf::from("/etc/containerd/config.toml")
        );
    }

    #[test]
    fn the_key_or_the_flag_switch_defaults_but_not_what_the_file_sets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "version = 3\ncontainerd_compat = true\nstate = \"/run/x\"\n",
        )
        .unwrap();
        let by_key = load_for_daemon(Some(&file), false).unwrap().config;
        assert!(by_key.containerd_compat);
        assert_eq!(by_key.root, PathBuf::from("/var/lib/containerd"));
        assert_eq!(by_key.state, PathBuf::from("/run/x"));
        assert_eq!(by_key.grpc.address, "/run/containerd/containerd.sock");

        std::fs::write(&file, "version = 3\nroot = \"/srv/r\"\n").unwrap();
        let by_flag = load_for_daemon(Some(&file), true).unwrap().config;
        assert!(by_flag.containerd_compat);
        assert_eq!(by_flag.root, PathBuf::from("/srv/r"));
        assert_eq!(by_flag.state, PathBuf::from("/run/containerd"));

        let plain = load_for_daemon(Some(&file), false).unwrap().config;
        assert!(!plain.containerd_compat);
        assert_eq!(plain.state, PathBuf::from("/run/crated"));
        assert_eq!(plain.grpc.address, "/run/crated/crated.sock");
    }
}
