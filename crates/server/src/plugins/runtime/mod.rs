//! `io.containerd.runtime.v2` plugins.

pub mod task;
