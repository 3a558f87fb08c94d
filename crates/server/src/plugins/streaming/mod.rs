//! `io.containerd.streaming.v1` plugins.

pub mod manager;
