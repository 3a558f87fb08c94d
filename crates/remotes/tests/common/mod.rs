//! Test support: the test kit's registry (Debian's `docker-registry` on
//! 127.0.0.1) and `hosts.toml` helpers, a small test image, and a tiny
//! scripted HTTP server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod http;
pub mod image;

#[allow(unused_imports)]
pub use crated_testkit::registry::{
    Registry, RegistryOptions, RegistryTls, free_port, htpasswd_line, write_hosts_toml,
};
