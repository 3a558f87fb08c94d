//! End-to-end tests driving a real crated through the client library
//! (`crated-client`), including what neither ctr 1.6 nor cratectl expose:
//! aborting an ingest left behind by a crash.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::collections::HashMap;
use std::time::Duration;

use crated_client::ErrorKind;
use crated_e2e::client::{connect, runtime};
use crated_e2e::{Daemon, human_size, sha256_digest, test_bytes};
use futures::StreamExt;

/// The library's basic round trip against the daemon: version, a blob
/// written and read back, a namespace that refuses deletion while it holds
/// it, errors classified as containerd's. Needs root.
#[test]
fn client_library_round_trip() {
    let daemon = Daemon::start();
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let version = client
            .version()
            .await
            .unwrap_or_else(|e| panic!("version: {e}"));
        assert_eq!(version.version, env!("CARGO_PKG_VERSION"));

        let ns = client.namespace("lib");
        let data = test_bytes(70_000, 31);
        let written = ns
            .content()
            .write_blob(
                "lib-ref",
                Some(&sha256_digest(&data)),
                Some(data.len() as i64),
                data.as_slice(),
                HashMap::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("write_blob: {e}"));
        assert_eq!(written.digest(), sha256_digest(&data));
        let read = ns
            .content()
            .read_blob(&sha256_digest(&data))
            .await
            .unwrap_or_else(|e| panic!("read_blob: {e}"));
        assert!(read == data, "read_blob returned other bytes");

        // Ranged reads: a slice, the tail, and past the end (OutOfRange, as
        // containerd answers).
        let digest = sha256_digest(&data);
        let mut slice = Vec::new();
        let mut stream = ns
            .content()
            .read(&digest, 1000, 500)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        while let Some(chunk) = stream.next().await {
            slice.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("read chunk: {e}")));
        }
        assert!(
            slice == data[1000..1500],
            "ranged read returned other bytes"
        );
        let past = ns.content().read(&digest, data.len() as i64 + 10, 0).await;
        let err = match past {
            Err(err) => err,
            Ok(mut stream) => match stream.next().await {
                Some(Err(err)) => err,
                other => panic!(
                    "reading past the end gave {:?}",
                    other.map(|r| r.map(|b| b.len()))
                ),
            },
        };
        assert_eq!(err.kind(), ErrorKind::OutOfRange, "{err}");

        let err = client
            .namespaces()
            .delete("lib")
            .await
            .err()
            .unwrap_or_else(|| panic!("deleting a namespace holding a blob succeeded"));
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");

        let err = client
            .namespace("bad/ns")
            .content()
            .list(&[])
            .await
            .err()
            .unwrap_or_else(|| panic!("listing in namespace bad/ns succeeded"));
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    });
    // What the library wrote, ctr sees.
    assert_eq!(daemon.content_digests("lib").len(), 1);
}

/// SIGKILL crated while two ingests are half written, restart it: both
/// ingests are listed with what reached the disk; one is aborted (gone, and
/// a second abort is NotFound), the other is resumed by ctr and commits.
/// Needs root.
#[test]
fn crash_leaves_ingests_that_can_be_aborted_or_resumed() {
    let mut daemon = Daemon::start();
    let kept = test_bytes(20_000, 32);
    let kept_digest = daemon.ingest("crash", "kept", &kept);

    const SENT: usize = 1 << 20;
    let data = test_bytes(2_500_000, 33);
    let other = test_bytes(2_500_000, 34);
    let mut writers = Vec::new();
    for (reference, blob) in [("resume-me", &data), ("abort-me", &other)] {
        let mut ctr = daemon.spawn_ctr(&["-n", "crash", "content", "ingest", reference]);
        ctr.write_stdin(&blob[..SENT + 4096]);
        daemon.wait_active("crash", reference, &human_size(SENT as u64));
        writers.push(ctr);
    }
    daemon.kill9();
    for ctr in writers {
        let out = ctr.wait(Duration::from_secs(10));
        assert!(
            !out.succeeded(),
            "an ingest succeeded without a daemon: {out}"
        );
    }
    daemon.restart();
    daemon.assert_intact("crash", &kept_digest, &kept);

    runtime().block_on(async {
        let client = connect(&daemon).await;
        let content = client.namespace("crash").content();
        let statuses = content
            .list_statuses(&[])
            .await
            .unwrap_or_else(|e| panic!("list_statuses: {e}"));
        let mut refs: Vec<(&str, i64)> = statuses
            .iter()
            .map(|s| (s.reference.as_str(), s.offset))
            .collect();
        refs.sort_unstable();
        assert_eq!(refs.len(), 2, "{refs:?}");
        assert_eq!(refs[0].0, "abort-me");
        assert_eq!(refs[1].0, "resume-me");
        for (reference, offset) in &refs {
            assert!(
                (0..=SENT as i64).contains(offset),
                "{reference} claims {offset} bytes, more than the {SENT} sent"
            );
        }

        content
            .abort("abort-me")
            .await
            .unwrap_or_else(|e| panic!("abort: {e}"));
        let err = content
            .abort("abort-me")
            .await
            .err()
            .unwrap_or_else(|| panic!("a second abort succeeded"));
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let left: Vec<String> = content
            .list_statuses(&[])
            .await
            .unwrap_or_else(|e| panic!("list_statuses: {e}"))
            .into_iter()
            .map(|s| s.reference)
            .collect();
        assert_eq!(left, ["resume-me"]);
    });

    let file = daemon.create_file("resume.bin", &data);
    daemon
        .ctr_cmd(&[
            "-n",
            "crash",
            "content",
            "ingest",
            "--expected-digest",
            &sha256_digest(&data),
            "resume-me",
        ])
        .stdin_file(&file)
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    daemon.assert_intact("crash", &sha256_digest(&data), &data);
    assert!(daemon.active_ingests("crash").is_empty());
    assert!(
        !daemon
            .content_digests("crash")
            .contains(&sha256_digest(&other))
    );
}
