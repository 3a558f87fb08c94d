//! Test harness for crated's end-to-end tests.
//!
//! The tests in `tests/` start a real `crated` (built by
//! `cargo build --workspace`) on a temporary root, state and socket with
//! [`Daemon::start`], and drive it with containerd's own `ctr` (Debian's
//! `containerd` package, used only as a client) and with `cratectl`.
//!
//! Every daemon runs as a child of the test: it is stopped by its pid when the
//! [`Daemon`] is dropped, and its temporary directory is removed then (set
//! `CRATED_E2E_KEEP=1` to keep it for a post-mortem). External commands run
//! with a timeout so a hung daemon fails the test instead of hanging it.
//!
//! These tests need root: crated chowns its socket to `[grpc] uid/gid` (0 by
//! default) and creates its directories as the daemon would in production.

pub mod bins;
pub mod cmd;
pub mod containerd;
pub mod ctr;
pub mod daemon;
pub mod docker;
pub mod service;
pub mod util;
pub mod workload;

pub use bins::{cratectl_bin, crated_bin, ctr_bin};
pub use cmd::{Background, Cmd, Output};
pub use ctr::Events;
pub use daemon::{Daemon, DaemonBuilder};
pub use util::{human_size, sha256_digest, test_bytes, wait_until};
