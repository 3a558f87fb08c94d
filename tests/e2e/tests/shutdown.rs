//! The daemon stops at once on SIGTERM whatever streams are open: event
//! subscribers (`ctr events`, dockerd) never leave on their own, so the
//! shutdown ends their streams instead of waiting out its grace period.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_e2e::Daemon;

/// What crated logs when it had to cut requests off at the end of its grace
/// period instead of seeing them finish.
const CUT_OFF: &str = "still open after the shutdown grace period";

#[test]
fn daemon_stops_with_event_subscriptions_open() {
    let mut daemon = Daemon::start();
    let all = daemon.spawn_ctr(&["events"]);
    let filtered = daemon.spawn_ctr(&["events", "topic~=/namespaces/"]);
    // Both subscriptions are live once they print an event. `ctr events`
    // subscribes some time after it starts, so keep making events (a new
    // namespace each second) until both have printed one.
    let mut seen = [false, false];
    for attempt in 0..20 {
        let ns = format!("e2e-shutdown-{}-{attempt}", std::process::id());
        daemon.ctr(&["namespaces", "create", &ns]).ok();
        for (i, sub) in [&all, &filtered].into_iter().enumerate() {
            seen[i] = seen[i]
                || sub.wait_stdout(Duration::from_secs(1), |s| s.contains("/namespaces/create"));
        }
        if seen == [true, true] {
            break;
        }
    }
    for (sub, seen) in [&all, &filtered].into_iter().zip(seen) {
        assert!(
            seen,
            "`{}` never printed a namespace event: {}",
            sub.cmdline(),
            sub.stdout()
        );
    }

    daemon.stop();
    let log = daemon.log();
    assert!(
        !log.contains(CUT_OFF),
        "the daemon waited for the open event streams until its grace period ran out:\n{log}"
    );
    // The streams ended, so the clients return on their own.
    for sub in [all, filtered] {
        let out = sub.wait(Duration::from_secs(10));
        assert!(
            !out.stdout().contains("/namespaces/delete"),
            "unexpected event: {out}"
        );
    }
}

/// SIGTERM with every kind of long-lived work open at once: an event
/// stream, a content write stream that never ends, a `Wait` on a running
/// task, a client that connected and never spoke, and one that stopped in
/// the middle of its HTTP/2 preface. The daemon exits (cleanly) within
/// `STOP_TIMEOUT` all the same. Needs root.
#[test]
fn daemon_exits_with_requests_streams_and_hung_clients_open() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use crated_e2e::workload::{BusyboxRootfs, Cleanup, expect_shim_pid};

    const NS: &str = "default";
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let id = "shutdown-open";
    daemon
        .ctr_cmd(&[
            "run",
            "-d",
            "--rootfs",
            &rootfs.arg(),
            id,
            "/bin/sleep",
            "1000",
        ])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let shim = expect_shim_pid(&daemon, NS, id);
    let events = daemon.spawn_ctr(&["events"]);
    let mut ingest = daemon.spawn_ctr(&["content", "ingest", "shutdown-open-ref"]);
    ingest.write_stdin(b"a blob that never ends");
    let wait = daemon.spawn_ctr(&["tasks", "exec", "--exec-id", "w", id, "/bin/sleep", "1000"]);
    let silent = UnixStream::connect(daemon.socket())
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", daemon.socket().display()));
    let mut half = UnixStream::connect(daemon.socket())
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", daemon.socket().display()));
    half.write_all(b"PRI * HTTP/2.0\r\n\r\n")
        .unwrap_or_else(|e| panic!("writing half a preface: {e}"));
    // The exec is running once `ctr tasks ls`-style listing shows it.
    assert!(
        crated_e2e::wait_until(Duration::from_secs(20), || {
            daemon.ctr(&["tasks", "ps", id]).stdout().lines().count() > 2
        }),
        "the exec never started"
    );

    daemon.stop();

    drop((silent, half));
    // Their connections went with the daemon, so each client ends too.
    for client in [events, ingest, wait] {
        client.wait(Duration::from_secs(10));
    }
    // Clean up the container with the daemon back.
    daemon.restart();
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(id);
    cleanup.shim(shim);
}
