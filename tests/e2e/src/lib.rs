//! crated's end-to-end tests: a real `crated` (built by
//! `cargo build --workspace`) on a temporary root, state and socket, driven
//! with containerd's own `ctr` (Debian's `containerd`, used only as a
//! client), with `cratectl` and with the client library.
//!
//! The harness is the workspace's test kit, `crated-testkit`; this crate
//! re-exports it under the paths the tests use (`crated_e2e::Daemon`,
//! `crated_e2e::workload::…`, `crated_e2e::cmd::…`).
//!
//! Every test in this package needs root (crated chowns its socket, shims
//! and runc create namespaces, cgroups and mounts): the package is the root
//! lane's, and the `unprivileged` nextest profile leaves it out.

pub use crated_testkit::{
    Background, Cmd, Daemon, DaemonBuilder, Events, Output, bins, cmd, containerd, containerd_peer,
    cratectl_bin, crated_bin, ctr, ctr_bin, daemon, docker, human_size, image, pki, registry, root,
    service, sha256_digest, test_bytes, util, wait_until, workload,
};

pub mod client;
pub mod cri;
pub mod faults;
