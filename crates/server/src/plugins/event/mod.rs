//! `io.containerd.event.v1` plugins.

pub mod exchange;
