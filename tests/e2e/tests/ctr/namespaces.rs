//! namespaces create/ls/label/rm.

use crated_e2e::Daemon;

/// Labels of namespace `name` as `ctr namespaces ls` prints them.
fn labels_of(daemon: &Daemon, name: &str) -> Option<String> {
    let out = daemon.ctr(&["namespaces", "ls"]).ok();
    let lines = out.lines();
    assert!(
        lines.first().is_some_and(|h| h.starts_with("NAME")),
        "unexpected header: {out}"
    );
    lines.iter().skip(1).find_map(|l| {
        let mut cols = l.split_whitespace();
        (cols.next() == Some(name)).then(|| cols.next().unwrap_or("").to_string())
    })
}

/// Create with labels, list, relabel (set, change, remove with `k=`), remove;
/// a duplicate create is AlreadyExists, labelling a missing one NotFound.
/// Needs root.
#[test]
fn namespaces_create_ls_label_rm() {
    let daemon = Daemon::start();
    daemon
        .ctr(&["namespaces", "create", "alpha", "team=a", "tier=1"])
        .ok();
    daemon.ctr(&["namespaces", "create", "beta"]).ok();
    let names = daemon.namespaces();
    assert!(names.contains(&"alpha".to_string()), "{names:?}");
    assert!(names.contains(&"beta".to_string()), "{names:?}");
    assert_eq!(
        labels_of(&daemon, "alpha").as_deref(),
        Some("team=a,tier=1")
    );

    daemon
        .ctr(&["namespaces", "label", "alpha", "team=b", "zone=eu"])
        .ok();
    assert_eq!(
        labels_of(&daemon, "alpha").as_deref(),
        Some("team=b,tier=1,zone=eu")
    );
    daemon.ctr(&["namespaces", "label", "alpha", "tier="]).ok();
    assert_eq!(
        labels_of(&daemon, "alpha").as_deref(),
        Some("team=b,zone=eu")
    );

    daemon
        .ctr(&["namespaces", "create", "alpha"])
        .fails()
        .stderr_has("already exists");

    daemon
        .ctr(&["namespaces", "rm", "alpha"])
        .ok()
        .stdout_has("alpha");
    let names = daemon.namespaces();
    assert!(!names.contains(&"alpha".to_string()), "{names:?}");
    assert!(names.contains(&"beta".to_string()), "{names:?}");

    // ctr ignores NotFound on rm (as with containerd), but not on label.
    daemon
        .ctr(&["namespaces", "label", "alpha", "a=b"])
        .fails()
        .stderr_has("not found");
}

/// Removing a namespace that still holds content fails with
/// FailedPrecondition ("must be empty"), keeps the namespace and its content,
/// and succeeds once the content is gone. Needs root.
#[test]
fn namespace_rm_with_content_fails_precondition() {
    let mut daemon = Daemon::start();
    daemon.ctr(&["namespaces", "create", "full"]).ok();
    let data = b"a blob that keeps its namespace alive\n";
    let digest = daemon.ingest("full", "keep-alive", data);

    let out = daemon.ctr(&["namespaces", "rm", "full"]).fails();
    out.stderr_has("must be empty")
        .stderr_has("failed precondition");

    assert!(daemon.namespaces().contains(&"full".to_string()));
    daemon.assert_intact("full", &digest, data);

    daemon.ctr(&["-n", "full", "content", "rm", &digest]).ok();
    daemon.ctr(&["namespaces", "rm", "full"]).ok();
    assert!(!daemon.namespaces().contains(&"full".to_string()));
}

/// Namespaces and their labels survive a restart. Needs root.
#[test]
fn namespaces_survive_restart() {
    let mut daemon = Daemon::start();
    daemon.ctr(&["namespaces", "create", "durable", "k=v"]).ok();
    daemon.restart();
    assert_eq!(labels_of(&daemon, "durable").as_deref(), Some("k=v"));
}

/// A namespace holding only a lease is not empty either. Needs root.
#[test]
fn namespace_rm_with_lease_fails_precondition() {
    let daemon = Daemon::start();
    daemon
        .ctr(&["-n", "leased", "leases", "create", "--id", "hold"])
        .ok();
    daemon
        .ctr(&["namespaces", "rm", "leased"])
        .fails()
        .stderr_has("must be empty")
        .stderr_has("failed precondition");
    daemon.ctr(&["-n", "leased", "leases", "rm", "hold"]).ok();
    daemon.ctr(&["namespaces", "rm", "leased"]).ok();
    assert!(!daemon.namespaces().contains(&"leased".to_string()));
}
