//! The overlayfs snapshotter's configuration, containerd's
//! `[plugins."io.containerd.snapshotter.v1.overlayfs"]` section, defined
//! with the other plugin options in `crated-config`.

pub use crated_config::plugins::OverlayConfig;
