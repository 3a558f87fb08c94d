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

    // Labelling a namespace that does not exist creates it, as on
    // containerd (the Go client's SetLabel is many programs' first call).
    daemon.ctr(&["namespaces", "label", "alpha", "a=b"]).ok();
    assert_eq!(labels_of(&daemon, "alpha").as_deref(), Some("a=b"));
}

/// `ctr namespaces label` on a namespace that does not exist creates it with
/// the labels; an invalid name is still InvalidArgument and creates nothing.
/// Needs root.
#[test]
fn namespaces_label_creates_missing_namespace() {
    let daemon = Daemon::start();
    daemon
        .ctr(&["namespaces", "label", "labelled-new", "k=v", "team=x"])
        .ok();
    assert_eq!(
        labels_of(&daemon, "labelled-new").as_deref(),
        Some("k=v,team=x")
    );
    daemon
        .ctr(&["namespaces", "label", "bad/ns", "k=v"])
        .fails()
        .stderr_has("invalid argument");
    assert!(!daemon.namespaces().iter().any(|n| n == "bad/ns"));
}

/// Writes ctr makes in a namespace that does not exist create it, as
/// containerd's metadata does: a content ingest, a lease, a snapshot.
/// (Images and containers are covered by the metadata crate's tests.)
/// Needs root.
#[test]
fn writes_create_their_namespace() {
    let daemon = Daemon::start();
    daemon.ingest("implicit-content", "ref", b"bytes that make a namespace\n");
    daemon
        .ctr(&["-n", "implicit-lease", "leases", "create", "--id", "l"])
        .ok();
    daemon
        .ctr(&["-n", "implicit-snapshot", "snapshots", "prepare", "a"])
        .ok();
    let names = daemon.namespaces();
    for ns in ["implicit-content", "implicit-lease", "implicit-snapshot"] {
        assert!(names.iter().any(|n| n == ns), "{ns} missing from {names:?}");
    }
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

/// A namespace holding only a lease is removed with it, as on containerd
/// (whose delete looks at images, blobs, containers and snapshots only);
/// made again, it has no lease left. Needs root.
#[test]
fn namespace_rm_takes_its_leases_along() {
    let daemon = Daemon::start();
    daemon
        .ctr(&["-n", "leased", "leases", "create", "--id", "hold"])
        .ok();
    daemon.ctr(&["namespaces", "rm", "leased"]).ok();
    assert!(!daemon.namespaces().contains(&"leased".to_string()));
    daemon
        .ctr(&["-n", "leased", "leases", "ls", "-q"])
        .ok()
        .stdout_lacks("hold");
}
