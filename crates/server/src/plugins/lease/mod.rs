//! `io.containerd.lease.v1` plugins.

pub mod manager;
