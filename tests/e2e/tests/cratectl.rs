//! End-to-end tests driving a real crated with `cratectl` (the project's
//! own CLI), parsing its `--format json` output.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_e2e::{Cmd, Daemon, Events, cratectl_bin, sha256_digest, test_bytes, wait_until};
use serde_json::Value;

/// `cratectl -a <socket> --format json <args>`, asserted to succeed, parsed.
#[track_caller]
fn json(daemon: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    daemon.cratectl(&all).ok().json()
}

/// `cratectl` with stdin, asserted to succeed.
#[track_caller]
fn ingest(daemon: &Daemon, ns: &str, reference: &str, data: &[u8]) -> String {
    let digest = sha256_digest(data);
    daemon
        .cratectl_cmd(&[
            "-n",
            ns,
            "content",
            "ingest",
            "--expected-digest",
            &digest,
            "--expected-size",
            &data.len().to_string(),
            reference,
        ])
        .stdin_bytes(data)
        .run()
        .ok();
    digest
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {v}"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// `version` and `info`: the server's version, a uuid that is the same in
/// both and across restarts, and the daemon's pid. Needs root.
#[test]
fn cratectl_version_and_info() {
    let mut daemon = Daemon::start();
    let table = daemon.cratectl(&["version"]).ok();
    table.stdout_has("Server:").stdout_has("UUID:");

    let v = json(&daemon, &["version"]);
    assert_eq!(
        str_field(&v["server"], "version"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        str_field(&v["client"], "version"),
        env!("CARGO_PKG_VERSION")
    );
    let uuid = str_field(&v["server"], "uuid").to_string();
    assert_eq!(uuid.len(), 36, "{v}");

    let info = json(&daemon, &["info"]);
    assert_eq!(str_field(&info, "uuid"), uuid);
    assert_eq!(info["pid"].as_u64(), daemon.pid().map(u64::from), "{info}");
    assert!(info["pidns"].as_u64().is_some_and(|n| n > 0), "{info}");
    assert!(info["deprecations"].is_array(), "{info}");
    daemon.cratectl(&["info"]).ok().stdout_has(&uuid);

    daemon.restart();
    let v = json(&daemon, &["version"]);
    assert_eq!(
        str_field(&v["server"], "uuid"),
        uuid,
        "uuid changed on restart"
    );
}

/// A version 1 config is reported as a deprecation by `info`. Needs root.
#[test]
fn cratectl_info_reports_config_v1_deprecation() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let d = dir.path();
    let config = d.join("v1.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\nroot = {:?}\nstate = {:?}\n[grpc]\naddress = {:?}\n",
            d.join("root").display().to_string(),
            d.join("state").display().to_string(),
            d.join("c.sock").display().to_string()
        ),
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let bg = Cmd::new(crated_e2e::crated_bin())
        .env("NO_COLOR", "1")
        .args(["-c", config.to_str().unwrap_or_default()])
        .spawn();
    let sock = d.join("c.sock");
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        }),
        "daemon with a v1 config did not start: {}",
        bg.stderr()
    );
    let info = Cmd::new(cratectl_bin())
        .args([
            "-a",
            sock.to_str().unwrap_or_default(),
            "--format",
            "json",
            "info",
        ])
        .run()
        .ok()
        .json();
    let deprecations = array(&info["deprecations"]);
    assert!(
        deprecations
            .iter()
            .any(|d| d.to_string().contains("config-v1")),
        "{info}"
    );
    drop(bg);
}

/// `plugins ls` (table, json, -d, filters). Needs root.
#[test]
fn cratectl_plugins_ls() {
    let daemon = Daemon::start();
    let all = json(&daemon, &["plugins", "ls"]);
    let has = |ty: &str, id: &str| {
        array(&all)
            .iter()
            .any(|p| p["type"] == ty && p["id"] == id && p["status"] == "ok")
    };
    assert!(has("io.containerd.content.v1", "content"), "{all}");
    assert!(has("io.containerd.metadata.v1", "bolt"), "{all}");
    for id in [
        "version",
        "introspection",
        "namespaces",
        "events",
        "leases",
        "content",
        "healthcheck",
    ] {
        assert!(has("io.containerd.grpc.v1", id), "{id}: {all}");
    }
    let bolt = json(&daemon, &["plugins", "ls", "id==bolt"]);
    let bolt = array(&bolt);
    assert_eq!(bolt.len(), 1);
    assert!(
        str_field(&bolt[0]["exports"], "path").starts_with(&daemon.root().display().to_string()),
        "{bolt:?}"
    );
    assert_eq!(bolt[0]["requires"][0], "io.containerd.content.v1");

    let grpc = json(&daemon, &["plugins", "ls", "type==io.containerd.grpc.v1"]);
    assert!(
        array(&grpc)
            .iter()
            .all(|p| p["type"] == "io.containerd.grpc.v1")
    );
    assert!(array(&grpc).len() >= 7);

    daemon
        .cratectl(&["plugins", "ls", "-d", "id==content"])
        .ok()
        .stdout_has("Exports:")
        .stdout_has(&daemon.root().display().to_string());
    let table = daemon.cratectl(&["plugins", "ls"]).ok();
    assert!(table.lines()[0].starts_with("TYPE"), "{table}");
    let quiet = daemon.cratectl(&["plugins", "ls", "-q"]).ok().lines();
    assert_eq!(quiet.len(), array(&all).len(), "{quiet:?}");
}

/// namespaces create/ls/label/rm, including rm of a non-empty namespace.
/// Needs root.
#[test]
fn cratectl_namespaces() {
    let daemon = Daemon::start();
    daemon
        .cratectl(&["namespaces", "create", "kns", "a=b", "flag"])
        .ok();
    let ls = json(&daemon, &["namespaces", "ls"]);
    let kns = array(&ls)
        .iter()
        .find(|n| n["name"] == "kns")
        .unwrap_or_else(|| panic!("kns not listed: {ls}"));
    assert_eq!(kns["labels"]["a"], "b");
    assert_eq!(kns["labels"]["flag"], "true");

    daemon
        .cratectl(&["namespaces", "label", "kns", "a=", "c=d"])
        .ok();
    let ls = json(&daemon, &["namespaces", "ls"]);
    let kns = array(&ls)
        .iter()
        .find(|n| n["name"] == "kns")
        .unwrap_or_else(|| panic!("kns not listed: {ls}"));
    assert!(kns["labels"].get("a").is_none(), "{kns}");
    assert_eq!(kns["labels"]["c"], "d");

    daemon
        .cratectl(&["namespaces", "create", "kns"])
        .fails()
        .stderr_has("already exists");

    let digest = ingest(&daemon, "kns", "r", b"holds the namespace\n");
    let out = daemon.cratectl(&["namespaces", "rm", "kns"]).fails();
    out.stderr_has("must be empty")
        .stderr_has("failed precondition");
    assert_eq!(out.stderr.trim().lines().count(), 1, "not one line: {out}");
    daemon
        .cratectl(&["-n", "kns", "content", "rm", &digest])
        .ok();
    daemon.cratectl(&["namespaces", "rm", "kns"]).ok();
    let quiet = daemon.cratectl(&["namespaces", "ls", "-q"]).ok().lines();
    assert!(!quiet.contains(&"kns".to_string()), "{quiet:?}");
    daemon
        .cratectl(&["namespaces", "rm", "kns"])
        .fails()
        .stderr_has("not found");
}

/// content ingest/ls/get/label/rm/active, a wrong-digest commit, and an
/// ingest resumed after its cratectl was killed. Needs root.
#[test]
fn cratectl_content() {
    let daemon = Daemon::start();
    let data = test_bytes(100_000, 21);
    let digest = ingest(&daemon, "kc", "blob", &data);

    let ls = json(&daemon, &["-n", "kc", "content", "ls"]);
    let ls = array(&ls);
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0]["digest"], digest.as_str());
    assert_eq!(ls[0]["size"], 100_000);

    let got = daemon
        .cratectl(&["-n", "kc", "content", "get", &digest])
        .ok();
    assert!(got.stdout_bytes == data, "content get returned other bytes");

    daemon
        .cratectl(&["-n", "kc", "content", "label", &digest, "foo=bar", "x=1"])
        .ok();
    let ls = json(&daemon, &["-n", "kc", "content", "ls", "labels.foo==bar"]);
    assert_eq!(array(&ls).len(), 1, "{ls}");
    assert_eq!(ls[0]["labels"]["x"], "1");
    daemon
        .cratectl(&["-n", "kc", "content", "label", &digest, "x="])
        .ok();
    let ls = json(&daemon, &["-n", "kc", "content", "ls"]);
    assert!(ls[0]["labels"].get("x").is_none(), "{ls}");
    assert!(
        array(&json(
            &daemon,
            &["-n", "kc", "content", "ls", "labels.foo==baz"]
        ))
        .is_empty()
    );

    // Wrong digest.
    let wrong = sha256_digest(b"not these bytes");
    daemon
        .cratectl_cmd(&[
            "-n",
            "kc",
            "content",
            "ingest",
            "--expected-digest",
            &wrong,
            "bad",
        ])
        .stdin_bytes(b"these bytes".to_vec())
        .run()
        .fails()
        .stderr_has("unexpected commit digest")
        .stderr_has("failed precondition");

    // Resumed ingest: kill the writer after 1 MiB reached the daemon.
    let big = test_bytes(3_000_000, 22);
    let big_digest = sha256_digest(&big);
    let mut writer = daemon
        .cratectl_cmd(&["-n", "kc", "content", "ingest", "resumable"])
        .spawn();
    writer.write_stdin(&big[..1_500_000]);
    let offset_of = |reference: &str| {
        array(&json(&daemon, &["-n", "kc", "content", "active"]))
            .iter()
            .find(|s| s["ref"] == reference)
            .and_then(|s| s["offset"].as_u64())
    };
    assert!(
        wait_until(Duration::from_secs(10), || offset_of("resumable")
            == Some(1 << 20)),
        "active: {}",
        json(&daemon, &["-n", "kc", "content", "active"])
    );
    writer.kill();
    assert_eq!(offset_of("resumable"), Some(1 << 20));
    let filtered = json(&daemon, &["-n", "kc", "content", "active", "ref~=^resum"]);
    assert_eq!(array(&filtered).len(), 1, "{filtered}");

    // The retry's first MiB is garbage: it only commits if it resumed.
    let mut retry = vec![0u8; 1 << 20];
    retry.extend_from_slice(&big[1 << 20..]);
    let file = daemon.create_file("retry.bin", &retry);
    daemon
        .cratectl_cmd(&[
            "-n",
            "kc",
            "content",
            "ingest",
            "--expected-digest",
            &big_digest,
            "resumable",
        ])
        .stdin_file(&file)
        .run()
        .ok();
    assert_eq!(offset_of("resumable"), None);
    let got = daemon
        .cratectl(&["-n", "kc", "content", "get", &big_digest])
        .ok();
    assert!(
        got.stdout_bytes == big,
        "resumed blob reads back other bytes"
    );

    daemon
        .cratectl(&["-n", "kc", "content", "rm", &digest, &big_digest])
        .ok();
    assert!(array(&json(&daemon, &["-n", "kc", "content", "ls"])).is_empty());
    daemon
        .cratectl(&["-n", "kc", "content", "get", &digest])
        .fails()
        .stderr_has("not found");
}

/// leases create (id, expiry, labels; generated id), ls with filters, rm.
/// Needs root.
#[test]
fn cratectl_leases() {
    let daemon = Daemon::start();
    let lease = json(
        &daemon,
        &[
            "-n",
            "kl",
            "leases",
            "create",
            "--id",
            "L1",
            "--expires",
            "1h",
            "k=v",
        ],
    );
    assert_eq!(lease["id"], "L1");
    assert_eq!(lease["labels"]["k"], "v");
    assert!(
        lease["labels"]["containerd.io/gc.expire"].is_string(),
        "{lease}"
    );

    let generated = daemon
        .cratectl(&["-n", "kl", "leases", "create"])
        .ok()
        .lines();
    assert_eq!(generated.len(), 1, "{generated:?}");
    let generated = generated[0].clone();
    assert!(!generated.is_empty() && generated != "L1");

    let ls = json(&daemon, &["-n", "kl", "leases", "ls"]);
    let mut ids: Vec<&str> = array(&ls).iter().map(|l| str_field(l, "id")).collect();
    ids.sort_unstable();
    let mut expected = vec!["L1", generated.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let filtered = json(&daemon, &["-n", "kl", "leases", "ls", "labels.k==v"]);
    assert_eq!(array(&filtered).len(), 1, "{filtered}");
    assert!(array(&json(&daemon, &["-n", "other", "leases", "ls"])).is_empty());

    daemon
        .cratectl(&["-n", "kl", "leases", "create", "--id", "L1"])
        .fails()
        .stderr_has("already exists");
    daemon.cratectl(&["-n", "kl", "leases", "rm", "L1"]).ok();
    daemon
        .cratectl(&["-n", "kl", "leases", "rm", "--sync", &generated])
        .ok();
    assert!(array(&json(&daemon, &["-n", "kl", "leases", "ls"])).is_empty());
    daemon
        .cratectl(&["-n", "kl", "leases", "rm", "L1"])
        .fails()
        .stderr_has("not found");
}

/// `cratectl --format json events` prints one JSON object per event, with
/// topic, namespace, type and decoded payload, for every change. Needs root.
#[test]
fn cratectl_events_json() {
    let daemon = Daemon::start();
    let mut events = daemon.cratectl_cmd(&["--format", "json", "events"]).spawn();
    // Sync: wait until a change is seen (ctr's helper does the same dance).
    let sync = Events::start(&daemon);
    sync.stop();
    assert!(
        events.wait_stdout(Duration::from_secs(10), |s| s.contains("e2e-events-sync")),
        "cratectl events saw nothing: {}",
        events.stderr()
    );

    daemon
        .cratectl(&["namespaces", "create", "kev", "a=1"])
        .ok();
    daemon.cratectl(&["namespaces", "label", "kev", "b=2"]).ok();
    let digest = ingest(&daemon, "kev", "r", b"evented\n");
    daemon
        .cratectl(&["-n", "kev", "content", "rm", &digest])
        .ok();
    daemon.cratectl(&["namespaces", "rm", "kev"]).ok();

    let parsed = |stdout: &str| -> Vec<Value> {
        stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    };
    assert!(
        events.wait_stdout(Duration::from_secs(10), |s| parsed(s)
            .iter()
            .any(|e| e["topic"] == "/namespaces/delete" && e["namespace"] == "kev")),
        "{}",
        events.stdout()
    );
    let seen = parsed(&events.stdout());
    let of = |topic: &str| {
        seen.iter()
            .find(|e| e["topic"] == topic && e["namespace"] == "kev")
            .unwrap_or_else(|| panic!("no {topic} in {seen:?}"))
    };
    assert_eq!(of("/namespaces/create")["event"]["name"], "kev");
    assert_eq!(
        of("/namespaces/create")["type"],
        "containerd.events.NamespaceCreate"
    );
    assert_eq!(of("/namespaces/update")["event"]["labels"]["b"], "2");
    assert_eq!(of("/content/delete")["event"]["digest"], digest.as_str());
    assert_eq!(of("/namespaces/delete")["event"]["name"], "kev");
    assert!(of("/namespaces/create")["timestamp"].is_string());
    events.kill();
}

/// Bad input through cratectl: one-line errors with containerd's error
/// class, non-zero exit codes, and the daemon keeps serving. Needs root.
#[test]
fn cratectl_bad_input() {
    let mut daemon = Daemon::start();
    let data = b"kept through the bad input\n";
    let digest = ingest(&daemon, "keep", "kept", data);

    let cases: [(&[&str], &str); 5] = [
        (&["-n", "bad/ns", "content", "ls"], "invalid argument"),
        (&["content", "ls", "labels.foo=="], "at byte"),
        (&["leases", "ls", "id=="], "invalid argument"),
        (&["content", "get", "sha256:xyz"], "invalid"),
        (&["namespaces", "create", "bad/ns"], "invalid argument"),
    ];
    for (args, needle) in cases {
        let out = daemon.cratectl(args).fails();
        out.stderr_has(needle);
        assert_eq!(out.stderr.trim().lines().count(), 1, "not one line: {out}");
        daemon.assert_intact("keep", &digest, data);
    }

    // Unreachable socket: fails within the connect timeout, naming it.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("nobody.sock");
    Cmd::new(cratectl_bin())
        .args([
            "--connect-timeout",
            "2s",
            "-a",
            sock.to_str().unwrap_or_default(),
            "version",
        ])
        .timeout(Duration::from_secs(20))
        .run()
        .fails()
        .stderr_has(&sock.display().to_string());

    // CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE are honoured.
    let listed = Cmd::new(cratectl_bin())
        .env("CONTAINERD_ADDRESS", daemon.socket())
        .env("CONTAINERD_NAMESPACE", "keep")
        .args(["content", "ls", "-q"])
        .run()
        .ok()
        .lines();
    assert_eq!(listed, std::slice::from_ref(&digest));
    daemon.assert_intact("keep", &digest, data);
}
