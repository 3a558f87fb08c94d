//! leases create/ls/rm.

use crated_e2e::Daemon;

/// Rows of `ctr leases ls [filters]` as (id, labels).
fn lease_rows(daemon: &Daemon, ns: &str, filters: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["-n", ns, "leases", "ls"];
    args.extend_from_slice(filters);
    let out = daemon.ctr(&args).ok();
    let lines = out.lines();
    assert!(
        lines.first().is_some_and(|h| h.starts_with("ID")),
        "unexpected header: {out}"
    );
    lines
        .iter()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 3, "unexpected row {l:?}: {out}");
            (cols[0].to_string(), cols[2].to_string())
        })
        .collect()
}

/// Create leases with an id, an expiry and labels, and with a generated id;
/// list and filter them; remove them (also with `--sync`). Needs root.
#[test]
fn leases_create_ls_rm() {
    let daemon = Daemon::start();
    let out = daemon
        .ctr(&[
            "-n",
            "l1",
            "leases",
            "create",
            "--id",
            "build-1",
            "--expires",
            "1h",
            "owner=e2e",
        ])
        .ok();
    assert_eq!(out.lines(), ["build-1"]);

    let out = daemon.ctr(&["-n", "l1", "leases", "create"]).ok();
    let generated = out.lines();
    assert_eq!(generated.len(), 1, "{out}");
    let generated = generated[0].clone();
    assert!(!generated.is_empty() && generated != "build-1");

    let out = daemon
        .ctr(&[
            "-n",
            "l1",
            "leases",
            "create",
            "--id",
            "forever",
            "--expires",
            "0",
        ])
        .ok();
    assert_eq!(out.lines(), ["forever"]);

    let rows = lease_rows(&daemon, "l1", &[]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let labels = |id: &str| {
        rows.iter()
            .find(|(i, _)| i == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("lease {id} not listed: {rows:?}"))
    };
    let build = labels("build-1");
    assert!(build.contains("owner=e2e"), "{build}");
    assert!(build.contains("containerd.io/gc.expire="), "{build}");
    assert!(labels(&generated).contains("containerd.io/gc.expire="));
    assert_eq!(labels("forever"), "-");

    // Leases are per namespace.
    assert!(lease_rows(&daemon, "other", &[]).is_empty());

    let filtered = lease_rows(&daemon, "l1", &["id==build-1"]);
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    let filtered = lease_rows(&daemon, "l1", &["labels.owner==e2e"]);
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    let quiet = daemon.ctr(&["-n", "l1", "leases", "ls", "-q"]).ok().lines();
    assert_eq!(quiet.len(), 3, "{quiet:?}");

    daemon
        .ctr(&["-n", "l1", "leases", "create", "--id", "build-1"])
        .fails()
        .stderr_has("already exists");

    daemon.ctr(&["-n", "l1", "leases", "rm", "build-1"]).ok();
    daemon
        .ctr(&["-n", "l1", "leases", "rm", "--sync", &generated, "forever"])
        .ok();
    assert!(lease_rows(&daemon, "l1", &[]).is_empty());
    daemon
        .ctr(&["-n", "l1", "leases", "rm", "build-1"])
        .fails()
        .stderr_has("not found");
}

/// Leases survive a restart. Needs root.
#[test]
fn leases_survive_restart() {
    let mut daemon = Daemon::start();
    daemon
        .ctr(&["-n", "l2", "leases", "create", "--id", "kept", "k=v"])
        .ok();
    daemon.restart();
    let rows = lease_rows(&daemon, "l2", &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "kept");
    assert!(rows[0].1.contains("k=v"), "{rows:?}");
}
