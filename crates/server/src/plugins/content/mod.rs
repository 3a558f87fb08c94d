//! `io.containerd.content.v1` plugins.

// The file is named after the plugin id, `content`, like every plugin file.
#[allow(clippy::module_inception)]
pub mod content;
