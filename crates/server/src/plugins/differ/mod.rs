//! `io.containerd.differ.v1` plugins.

pub mod walking;
