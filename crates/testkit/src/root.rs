//! The one check for root.
//!
//! Tests that need root are marked `#[ignore = "requires root"]` (or live in
//! the root-only `crated-e2e` package), so an unprivileged
//! `cargo nextest run --profile unprivileged` skips them visibly; the root
//! lane runs them with `--run-ignored all`. A fixture that needs root calls
//! [`require_root`] so a marked test run by mistake without root fails at
//! once with a message instead of somewhere deep in a mount call.

/// Whether the tests run as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails the test unless it runs as root; `why` says what needs root.
#[track_caller]
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}); it belongs to the root lane: run it as root, \
         e.g. `cargo nextest run --profile root --run-ignored all` (see the README's Tests section)"
    );
}
