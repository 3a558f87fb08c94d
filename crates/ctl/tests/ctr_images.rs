//! containerd's `ctr` driving crated's image commands that run in the
//! client: `images import`, `images export` then `import` again, and
//! `content fetch` from a registry; the unpacked files are compared bit for
//! bit after each.
//!
//! **Needs root** (crated owns its socket and directories; `images mount`
//! mounts). Also needs Debian's `containerd` (`ctr`), `docker-registry` and
//! `busybox-static`. Every command is bounded in time; the daemon and the
//! registry are stopped by their pids.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fixtures::{
    Registry, assert_image_files, build_image, ctr, image_names, lines, start_daemon_with,
};

/// `ctr images import`, `ctr images export` and re-import, and
/// `ctr content fetch`, against crated. Needs root.
#[test]
fn ctr_import_export_and_content_fetch() {
    let daemon = start_daemon_with("", None);
    let image = build_image();
    let name = "docker.io/library/ctr-io:1";
    let archive = daemon.dir().join("in.tar");
    std::fs::write(&archive, image.oci_archive(name)).unwrap();

    ctr(
        &daemon,
        &[
            "images",
            "import",
            "--all-platforms",
            archive.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        image_names(&daemon).iter().any(|n| n == name),
        "imported: {:?}",
        image_names(&daemon)
    );
    assert_image_files(&daemon, &image, name);

    let mut registry = Registry::start();
    registry.wait_ready();
    let remote = format!("{}/ctr-io:1", registry.host());
    ctr(&daemon, &["images", "tag", name, &remote]).ok();
    ctr(&daemon, &["images", "push", "--plain-http", &remote]).ok();
    ctr(&daemon, &["images", "rm", "--sync", &remote]).ok();

    let exported = daemon.dir().join("out.tar");
    ctr(
        &daemon,
        &[
            "images",
            "export",
            "--all-platforms",
            exported.to_str().unwrap(),
            name,
        ],
    )
    .ok();
    assert!(std::fs::metadata(&exported).unwrap().len() > 0);
    ctr(&daemon, &["images", "rm", "--sync", name]).ok();
    assert!(
        lines(&ctr(&daemon, &["content", "ls", "-q"]).ok()).is_empty(),
        "content left after rm --sync"
    );
    ctr(
        &daemon,
        &[
            "images",
            "import",
            "--all-platforms",
            exported.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        image_names(&daemon).iter().any(|n| n == name),
        "re-imported: {:?}",
        image_names(&daemon)
    );
    assert_image_files(&daemon, &image, name);
    ctr(&daemon, &["images", "rm", "--sync", name]).ok();
    assert!(
        lines(&ctr(&daemon, &["content", "ls", "-q"]).ok()).is_empty(),
        "content left before fetch"
    );
    ctr(&daemon, &["content", "fetch", "--plain-http", &remote]).ok();
    let digests = lines(&ctr(&daemon, &["content", "ls", "-q"]).ok());
    assert!(
        digests.len() >= 3,
        "fetched index, manifest, config and layers: {digests:?}"
    );
    assert!(
        lines(&ctr(&daemon, &["snapshots", "ls"]).ok()).len() <= 1,
        "content fetch does not unpack"
    );
    ctr(&daemon, &["version"]).ok();
}
