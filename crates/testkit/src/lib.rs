//! crated's test kit: everything the integration and end-to-end tests share.
//!
//! - [`daemon`]: a real `crated` on a temporary root, state and socket
//!   ([`Daemon::start`], [`Daemon::builder`]), driven with containerd's `ctr`
//!   and `cratectl` ([`ctr`] holds the `ctr` helpers and [`Events`]);
//! - [`containerd`]: a private containerd (Debian's) with a shim of ours on
//!   its `PATH`, for the shim's compatibility tests;
//! - [`cmd`]: external commands with a timeout ([`Cmd`]), their [`Output`]
//!   with assertions, and [`Background`] processes;
//! - [`registry`]: Debian's `docker-registry` on 127.0.0.1 (plain, Basic
//!   auth, TLS) and `hosts.toml` helpers; [`pki`]: a throwaway CA;
//! - [`image`]: layer tars and a two-layer, two-platform OCI test image;
//!   [`workload`]: a busybox root filesystem, the two shims, and checks that
//!   no shim, mount or cgroup is left behind;
//! - [`bins`]: where `crated`, `cratectl`, our shim and `ctr` are;
//!   [`util`]: digests, polling ([`wait_until`]), ctr's size format;
//!   [`root`]: the one check for root.
//!
//! Every process a fixture starts is a child of the test, stopped by its pid
//! when the fixture is dropped (also when the test fails), and every
//! temporary directory is removed then (set `CRATED_E2E_KEEP=1` to keep a
//! daemon's for a post-mortem). Commands run under a timeout, so a hung
//! daemon fails the test instead of hanging it.
//!
//! Fixtures that need root (the daemon, containerd, mounts) say so in their
//! docs and fail at once, with a message, when not run as root. Tests that
//! use them are marked `#[ignore = "requires root"]` or live in the
//! root-only `crated-e2e` package; see the README's "Tests" section for the
//! two lanes.

pub mod bins;
pub mod cmd;
pub mod containerd;
pub mod containerd_peer;
pub mod ctr;
pub mod daemon;
pub mod docker;
pub mod image;
pub mod pki;
pub mod registry;
pub mod root;
pub mod service;
pub mod util;
pub mod workload;

pub use bins::{cratectl_bin, crated_bin, ctr_bin};
pub use cmd::{Background, Cmd, Output};
pub use ctr::Events;
pub use daemon::{Daemon, DaemonBuilder};
pub use util::{human_size, sha256_digest, test_bytes, wait_until};
