//! Writes past the declared size of an ingest, as containerd handles them.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use crated_e2e::Daemon;

/// An ingest that writes more bytes than its declared total: like
/// containerd, the writes are accepted and the commit is refused with
/// FailedPrecondition ("unexpected commit size 11, expected 3"). Needs root.
#[test]
fn oversized_write_is_failed_precondition_like_containerd() {
    let mut daemon = Daemon::start();
    daemon
        .ctr_stdin(
            &["content", "ingest", "--expected-size", "3", "oversized"],
            b"some bytes\n".as_slice(),
        )
        .fails()
        .stderr_has("unexpected commit size")
        .stderr_has("failed precondition");
    daemon.assert_serving();
}
