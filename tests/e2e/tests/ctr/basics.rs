//! version, plugins.

use crated_e2e::Daemon;

fn server_uuid(daemon: &Daemon) -> String {
    let out = daemon.ctr(&["version"]).ok();
    let stdout = out.stdout();
    let server = stdout
        .split_once("Server:")
        .unwrap_or_else(|| panic!("no Server section: {out}"))
        .1;
    server
        .lines()
        .find_map(|l| l.trim().strip_prefix("UUID:"))
        .map(|u| u.trim().to_string())
        .unwrap_or_else(|| panic!("no server UUID: {out}"))
}

/// `ctr version` prints the server's version and a uuid that stays the same
/// across a restart (it is persisted under root). Needs root.
#[test]
fn version_reports_server_and_stable_uuid() {
    let mut daemon = Daemon::start();
    let out = daemon.ctr(&["version"]).ok();
    let server = out
        .stdout()
        .split_once("Server:")
        .map(|(_, s)| s.to_string());
    let server = server.unwrap_or_else(|| panic!("no Server section: {out}"));
    assert!(
        server.contains(&format!("Version:  {}", env!("CARGO_PKG_VERSION"))),
        "server version is not {}: {out}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(server.contains("Revision:"), "no server revision: {out}");
    let uuid = server_uuid(&daemon);
    assert_eq!(uuid.len(), 36, "not a uuid: {uuid:?}");
    assert_eq!(uuid.matches('-').count(), 4, "not a uuid: {uuid:?}");

    daemon.restart();
    assert_eq!(
        server_uuid(&daemon),
        uuid,
        "the server uuid changed on restart"
    );
    daemon.kill9();
    daemon.restart();
    assert_eq!(
        server_uuid(&daemon),
        uuid,
        "the server uuid changed on restart after SIGKILL"
    );
}

/// Rows of `ctr plugins ls` as (type, id, platforms, status).
fn plugin_rows(daemon: &Daemon, filters: &[&str]) -> Vec<(String, String, String, String)> {
    let mut args = vec!["plugins", "ls"];
    args.extend_from_slice(filters);
    let out = daemon.ctr(&args).ok();
    let lines = out.lines();
    assert!(
        lines
            .first()
            .is_some_and(|h| h.split_whitespace().collect::<Vec<_>>()
                == ["TYPE", "ID", "PLATFORMS", "STATUS"]),
        "unexpected header: {out}"
    );
    lines
        .iter()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 4, "unexpected row {l:?}: {out}");
            (
                cols[0].to_string(),
                cols[1].to_string(),
                cols[2].to_string(),
                cols[3].to_string(),
            )
        })
        .collect()
}

/// The gRPC services this issue delivers (more may be registered).
const GRPC_SERVICES: [&str; 7] = [
    "version",
    "introspection",
    "namespaces",
    "events",
    "leases",
    "content",
    "healthcheck",
];

/// `ctr plugins ls` lists the content store, the metadata store (`bolt`, as
/// containerd names it), the lease manager, the event exchange and every
/// gRPC service, all `ok`. Needs root.
#[test]
fn plugins_ls_lists_every_plugin_ok() {
    let daemon = Daemon::start();
    let rows = plugin_rows(&daemon, &[]);
    let has = |ty: &str, id: &str| {
        rows.iter()
            .any(|(t, i, _, s)| t == ty && i == id && s == "ok")
    };
    for (ty, id) in [
        ("io.containerd.content.v1", "content"),
        ("io.containerd.metadata.v1", "bolt"),
        ("io.containerd.lease.v1", "manager"),
        ("io.containerd.event.v1", "exchange"),
    ] {
        assert!(has(ty, id), "{ty} {id} not listed ok: {rows:?}");
    }
    for id in GRPC_SERVICES {
        assert!(
            has("io.containerd.grpc.v1", id),
            "grpc service {id} not listed ok: {rows:?}"
        );
    }
    // The metadata store comes after the content store it requires.
    let pos = |ty: &str| rows.iter().position(|(t, _, _, _)| t == ty);
    assert!(
        pos("io.containerd.content.v1") < pos("io.containerd.metadata.v1"),
        "plugins not in dependency order: {rows:?}"
    );
}

/// `ctr plugins ls -d` shows each plugin's type, id, requirements and
/// exports (the content root and the metadata database under the daemon's
/// root). Needs root.
#[test]
fn plugins_ls_detailed_shows_requires_and_exports() {
    let daemon = Daemon::start();
    let out = daemon.ctr(&["plugins", "ls", "-d"]).ok();
    let stdout = out.stdout();
    // Split into one block per plugin, each starting with "Type:".
    let blocks: Vec<&str> = stdout.split("Type:").skip(1).collect();
    let block = |ty: &str, id: &str| {
        blocks
            .iter()
            .find(|b| {
                b.trim_start().starts_with(&format!("{ty}\n"))
                    && b.lines()
                        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["ID:", id])
            })
            .unwrap_or_else(|| panic!("no block for {ty} {id}: {out}"))
            .to_string()
    };
    let content = block("io.containerd.content.v1", "content");
    let root = daemon.root().display().to_string();
    assert!(
        content.contains("Exports:")
            && content.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() == 2 && cols[0] == "root" && cols[1].starts_with(&root)
            }),
        "content plugin does not export its root under {root}: {content}"
    );
    let bolt = block("io.containerd.metadata.v1", "bolt");
    assert!(
        bolt.contains("Requires:") && bolt.contains("io.containerd.content.v1"),
        "metadata plugin does not list its requirement: {bolt}"
    );
    assert!(
        bolt.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() == 2 && cols[0] == "path" && cols[1].starts_with(&root)
        }),
        "metadata plugin does not export its path under {root}: {bolt}"
    );
    for id in GRPC_SERVICES {
        block("io.containerd.grpc.v1", id);
    }
}

/// `ctr plugins ls <filter>` applies containerd's filter syntax: by type, by
/// id, `!=`, regex, and OR across several filters. Needs root.
#[test]
fn plugins_ls_filters() {
    let daemon = Daemon::start();
    let all = plugin_rows(&daemon, &[]);
    let grpc = plugin_rows(&daemon, &["type==io.containerd.grpc.v1"]);
    let expected: Vec<_> = all
        .iter()
        .filter(|(t, _, _, _)| t == "io.containerd.grpc.v1")
        .cloned()
        .collect();
    assert_eq!(grpc, expected);
    for id in GRPC_SERVICES {
        assert!(grpc.iter().any(|(_, i, _, _)| i == id), "{id}: {grpc:?}");
    }

    let content = plugin_rows(&daemon, &["id==content"]);
    let mut types: Vec<&str> = content.iter().map(|(t, _, _, _)| t.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["io.containerd.content.v1", "io.containerd.grpc.v1"],
        "{content:?}"
    );

    let both = plugin_rows(&daemon, &["type==io.containerd.grpc.v1,id==leases"]);
    assert_eq!(both.len(), 1, "{both:?}");

    let not_grpc = plugin_rows(&daemon, &["type!=io.containerd.grpc.v1"]);
    assert_eq!(not_grpc.len() + grpc.len(), all.len(), "{not_grpc:?}");
    assert!(
        not_grpc
            .iter()
            .all(|(t, _, _, _)| t != "io.containerd.grpc.v1")
    );

    let regex = plugin_rows(&daemon, &["id~=^(bolt|exchange)$"]);
    assert_eq!(regex.len(), 2, "{regex:?}");

    let or = plugin_rows(&daemon, &["id==bolt", "id==exchange"]);
    assert_eq!(or.len(), 2, "{or:?}");

    let none = plugin_rows(&daemon, &["type==io.containerd.nothing.v1"]);
    assert!(none.is_empty(), "{none:?}");
}
