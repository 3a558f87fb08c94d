//! Daemon-side pulls (`cratectl images pull`, the Transfer service) of one
//! image at the same time, and the bounds on the documents a pull or an
//! import reads.
//!
//! **Needs root** and Debian's `docker-registry` and `busybox-static`, like
//! `transfer.rs`; the daemon and the registry are stopped by their pids
//! when the test ends.

use crated_e2e::image::{TestImage, build_image};
use crated_e2e::registry::Registry;

use crate::common::{
    assert_image_files, content_digests, daemon, image_names, push_then_remove, snapshot_keys,
};

/// Pulls started together.
const PULLS: usize = 10;

/// Ten concurrent `cratectl images pull` of one image all succeed: a pull
/// that finds a layer's ref locked by another pull waits for it and uses
/// the committed blob instead of failing with `Unavailable`.
///
/// Without the wait 9 of 10 pulls failed with `ref … locked: unavailable`;
/// with the wait but without asking the content store again after an
/// `AlreadyExists`, 1 to 7 of 10 failed with `content digest …: not found`
/// (the other pull had committed the blob but not yet recorded it).
#[test]
fn concurrent_transfer_pulls_of_one_image_all_succeed() {
    let daemon = daemon();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:concurrent";
    let remote = format!("{}/test/busybox:concurrent", registry.host());
    daemon
        .cratectl_stdin(
            &["images", "import", "--no-unpack", "-"],
            image.oci_archive(local),
        )
        .ok();
    push_then_remove(&daemon, &remote, local);
    assert!(content_digests(&daemon).is_empty());

    let outputs: Vec<_> = std::thread::scope(|scope| {
        let pulls: Vec<_> = (0..PULLS)
            .map(|_| {
                scope.spawn(|| {
                    daemon.cratectl(&[
                        "images",
                        "pull",
                        "--plain-http",
                        "--progress",
                        "none",
                        &remote,
                    ])
                })
            })
            .collect();
        pulls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    let failed: Vec<String> = outputs
        .iter()
        .filter(|o| o.code() != Some(0))
        .map(|o| o.stderr.clone())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {PULLS} pulls failed: {failed:#?}\n--- crated log ---\n{}",
        failed.len(),
        daemon.log()
    );
    assert_eq!(image_names(&daemon), vec![remote.clone()]);
    assert!(snapshot_keys(&daemon).contains(&image.chain_id()));
    let check = daemon.cratectl(&["images", "check"]).ok().stdout();
    assert!(check.contains("complete"), "{check}");
    assert_image_files(&daemon, &image, &remote);
}

/// An OCI layout whose index nests 50 indexes (the limit is 8) is refused quickly with
/// a clear error, and leaves no image behind.
#[test]
fn import_refuses_a_deeply_nested_index() {
    let daemon = daemon();
    let image = build_image();
    let name = "docker.io/test/nested:1";
    let archive = nested_archive(image, name, 50);
    let out = daemon
        .cratectl_stdin(&["images", "import", "-"], archive)
        .fails();
    assert!(out.stderr.contains("nests indexes"), "{}", out.stderr);
    assert!(image_names(&daemon).is_empty());
}

/// An OCI layout of `image` whose `index.json` names an index that wraps
/// the image's index `depth` times.
fn nested_archive(mut image: TestImage, name: &str, depth: usize) -> Vec<u8> {
    for _ in 0..depth {
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": image.index_digest,
                "size": image.index_size,
            }],
        }))
        .unwrap();
        image.index_digest = crated_e2e::sha256_digest(&body);
        image.index_size = body.len();
        image.blobs.push((image.index_digest.clone(), body));
    }
    image.oci_archive(name)
}
