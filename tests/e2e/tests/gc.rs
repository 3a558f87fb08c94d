//! Garbage collection as containerd does it: blobs nothing references (no
//! lease, no `containerd.io/gc.root` label) are removed by a collection, which
//! runs shortly after startup, after deletions, and on `leases rm --sync`.
//!
//! (Every other test file runs the daemon with collection on request only,
//! see `crated_e2e::daemon::GC_ON_REQUEST_ONLY`, because `ctr content ingest`
//! writes blobs without a lease.)
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_client::leases::{LeaseOptions, Resource};
use crated_client::{Client, ConnectOptions};
use crated_e2e::{Daemon, test_bytes, wait_until};

/// With the production schedule: the startup collection runs, then a
/// deletion triggers another that removes unreferenced blobs but keeps
/// those labelled `containerd.io/gc.root`. Needs root.
#[test]
fn deletion_triggers_collection_of_unreferenced_blobs() {
    let mut daemon = Daemon::builder().with_gc().start();
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log()
            .contains("garbage collected")),
        "no startup collection logged"
    );
    let loose = test_bytes(5_000, 41);
    let rooted = test_bytes(5_000, 42);
    let doomed = test_bytes(5_000, 43);
    let loose_digest = daemon.ingest("gc", "loose", &loose);
    let rooted_digest = daemon.ingest("gc", "rooted", &rooted);
    daemon
        .ctr(&[
            "-n",
            "gc",
            "content",
            "label",
            &rooted_digest,
            "containerd.io/gc.root=yes",
        ])
        .ok();
    let doomed_digest = daemon.ingest("gc", "doomed", &doomed);
    daemon
        .ctr(&["-n", "gc", "content", "rm", &doomed_digest])
        .ok();

    assert!(
        wait_until(Duration::from_secs(10), || !daemon
            .content_digests("gc")
            .contains(&loose_digest)),
        "the unreferenced blob was not collected after a deletion\n{}",
        daemon.log()
    );
    daemon.assert_intact("gc", &rooted_digest, &rooted);
}

/// `ctr leases rm --sync` runs a collection before it returns: an
/// unreferenced blob is gone when it does. Needs root.
#[test]
fn sync_lease_delete_collects_before_returning() {
    let mut daemon = Daemon::start();
    let kept = test_bytes(3_000, 44);
    let kept_digest = daemon.ingest("gc", "kept", &kept);
    daemon
        .ctr(&[
            "-n",
            "gc",
            "content",
            "label",
            &kept_digest,
            "containerd.io/gc.root=1",
        ])
        .ok();
    let loose_digest = daemon.ingest("gc", "loose", &test_bytes(3_000, 45));
    daemon
        .ctr(&["-n", "gc", "leases", "create", "--id", "tmp"])
        .ok();
    daemon
        .ctr(&["-n", "gc", "leases", "rm", "--sync", "tmp"])
        .ok();
    let listed = daemon.content_digests("gc");
    assert!(!listed.contains(&loose_digest), "{listed:?}");
    daemon.assert_intact("gc", &kept_digest, &kept);
}

/// A blob held by a lease (a `content` resource added through the client
/// library) survives collections until the lease is deleted. Needs root.
#[test]
fn lease_resources_protect_content() {
    let mut daemon = Daemon::start();
    let data = test_bytes(8_000, 46);
    let digest = daemon.ingest("gc", "held", &data);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let client = runtime.block_on(async {
        Client::connect(daemon.socket(), ConnectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    });
    let leases = client.namespace("gc").leases();
    runtime.block_on(async {
        let lease = leases
            .create(LeaseOptions {
                id: Some("holder".into()),
                ..LeaseOptions::default()
            })
            .await
            .unwrap_or_else(|e| panic!("create lease: {e}"));
        let resource = Resource {
            id: digest.clone(),
            kind: "content".into(),
        };
        leases
            .add_resource(&lease.id, &resource)
            .await
            .unwrap_or_else(|e| panic!("add resource: {e}"));
        let resources = leases
            .list_resources(&lease.id)
            .await
            .unwrap_or_else(|e| panic!("list resources: {e}"));
        assert_eq!(resources, [resource]);
    });

    // A collection (through another lease's sync delete) keeps it.
    daemon
        .ctr(&["-n", "gc", "leases", "create", "--id", "other"])
        .ok();
    daemon
        .ctr(&["-n", "gc", "leases", "rm", "--sync", "other"])
        .ok();
    daemon.assert_intact("gc", &digest, &data);

    // Deleting the holder with --sync collects it.
    daemon
        .ctr(&["-n", "gc", "leases", "rm", "--sync", "holder"])
        .ok();
    assert!(daemon.content_digests("gc").is_empty());
}
