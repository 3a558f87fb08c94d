//! `io.containerd.monitor.v1` plugins.

pub mod cgroups;
