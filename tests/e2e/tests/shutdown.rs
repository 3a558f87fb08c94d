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
