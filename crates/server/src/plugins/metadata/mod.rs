//! `io.containerd.metadata.v1` plugins.

pub mod bolt;
