//! `io.containerd.gc.v1` plugins.

pub mod scheduler;
