//! End-to-end tests driving a real crated with containerd's own `ctr`
//! (Debian's `containerd` 1.6 package, used only as a client).
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).
//! Each test starts its own daemon on a fresh temporary directory.

mod bad_input;
mod basics;
mod content;
mod events;
mod leases;
mod namespaces;
