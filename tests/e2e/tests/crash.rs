//! Crashes: SIGKILL the daemon mid-write and check what a restart finds.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_e2e::{Daemon, human_size, sha256_digest, test_bytes};

/// SIGKILL crated while two ingests are half written (their data reached
/// the daemon), restart it on the same directories: committed content is
/// intact, both ingests are listed in `content active` with at most what was
/// sent, and one of them can be resumed and committed with the right digest.
/// The daemon also comes back over a stale socket file. Needs root.
#[test]
fn sigkill_during_content_write_then_resume() {
    let mut daemon = Daemon::start();
    let committed = test_bytes(200_000, 10);
    let committed_digest = daemon.ingest("crash", "committed", &committed);
    daemon
        .ctr(&[
            "-n",
            "crash",
            "content",
            "label",
            &committed_digest,
            "keep=1",
        ])
        .ok();
    daemon
        .ctr(&["namespaces", "label", "crash", "ns=label"])
        .ok();
    daemon
        .ctr(&["-n", "crash", "leases", "create", "--id", "crash-lease"])
        .ok();

    const TOTAL: usize = 3_000_000;
    const SENT: usize = 1 << 20; // ctr sends in 1 MiB chunks
    let data = test_bytes(TOTAL, 11);
    let digest = sha256_digest(&data);
    let other = test_bytes(TOTAL, 12);

    let spawn = |reference: &str, blob: &[u8]| {
        let mut ctr = daemon.spawn_ctr(&[
            "-n",
            "crash",
            "content",
            "ingest",
            "--expected-digest",
            &sha256_digest(blob),
            reference,
        ]);
        ctr.write_stdin(&blob[..SENT + 1000]);
        ctr
    };
    let first = spawn("half-written", &data);
    let second = spawn("abandoned", &other);
    daemon.wait_active("crash", "half-written", &human_size(SENT as u64));
    daemon.wait_active("crash", "abandoned", &human_size(SENT as u64));

    daemon.kill9();
    // The clients lose their stream: given the rest of their input, they
    // fail instead of committing anything.
    for ctr in [first, second] {
        let out = ctr.wait(Duration::from_secs(10));
        assert!(
            !out.succeeded(),
            "an ingest succeeded without a daemon: {out}"
        );
    }
    assert!(daemon.socket().exists(), "expected a stale socket file");

    daemon.restart();
    daemon.assert_intact("crash", &committed_digest, &committed);
    daemon
        .ctr(&["-n", "crash", "content", "ls"])
        .ok()
        .stdout_has("keep=1");
    daemon
        .ctr(&["namespaces", "ls"])
        .ok()
        .stdout_has("ns=label");
    daemon
        .ctr(&["-n", "crash", "leases", "ls", "-q"])
        .ok()
        .stdout_has("crash-lease");

    let active = daemon.active_ingests("crash");
    let mut refs: Vec<&str> = active.iter().map(|(r, _)| r.as_str()).collect();
    refs.sort_unstable();
    assert_eq!(refs, ["abandoned", "half-written"], "{active:?}");

    // Resume: ctr seeks the (seekable) file to the daemon's offset.
    let file = daemon.create_file("full.bin", &data);
    daemon
        .ctr_cmd(&[
            "-n",
            "crash",
            "content",
            "ingest",
            "--expected-digest",
            &digest,
            "--expected-size",
            &TOTAL.to_string(),
            "half-written",
        ])
        .stdin_file(&file)
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let listed = daemon.content_digests("crash");
    assert!(listed.contains(&digest), "{listed:?}");
    assert!(daemon.content_get("crash", &digest) == data, "bytes differ");
    let active = daemon.active_ingests("crash");
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].0, "abandoned");

    // And it all survives another crash.
    daemon.kill9();
    daemon.restart();
    daemon.assert_intact("crash", &digest, &data);
    daemon.assert_intact("crash", &committed_digest, &committed);
}

/// SIGKILL right after commits: every commit that ctr saw succeed is there
/// after the restart, with its labels. Needs root.
#[test]
fn sigkill_after_commits_loses_nothing() {
    let mut daemon = Daemon::start();
    let blobs: Vec<Vec<u8>> = (0..5)
        .map(|i| test_bytes(10_000 + i * 7, 100 + i as u64))
        .collect();
    let digests: Vec<String> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| daemon.ingest("durable", &format!("r{i}"), b))
        .collect();
    daemon
        .ctr(&["-n", "durable", "content", "label", &digests[0], "a=b"])
        .ok();
    daemon.kill9();
    daemon.restart();
    for (digest, blob) in digests.iter().zip(&blobs) {
        daemon.assert_intact("durable", digest, blob);
    }
    daemon
        .ctr(&["-n", "durable", "content", "ls"])
        .ok()
        .stdout_has("a=b");
    assert!(daemon.active_ingests("durable").is_empty());
}
