//! containerd's `ctr` driving crated's image commands that run in the
//! client: `images import`, `images export` then `import` again, and
//! `content fetch` from a registry; the unpacked files are compared bit for
//! bit after each.
//!
//! **Needs root** (crated owns its socket and directories; `images mount`
//! mounts). Also needs Debian's `containerd` (`ctr`), `docker-registry` and
//! `busybox-static`. Every command is bounded in time; the daemon and the
//! registry are stopped by their pids.

use crate::common::{assert_image_files, image_names, start_daemon_with};
use crated_e2e::image::build_image;
use crated_e2e::registry::Registry;

/// `ctr images import`, `ctr images export` and re-import, and
/// `ctr content fetch`, against crated. Needs root.
#[test]
fn ctr_import_export_and_content_fetch() {
    let daemon = start_daemon_with("", None);
    let image = build_image();
    let name = "docker.io/library/ctr-io:1";
    let archive = daemon.dir().join("in.tar");
    std::fs::write(&archive, image.oci_archive(name)).unwrap();

    daemon
        .ctr(&[
            "images",
            "import",
            "--all-platforms",
            archive.to_str().unwrap(),
        ])
        .ok();
    assert!(
        image_names(&daemon).iter().any(|n| n == name),
        "imported: {:?}",
        image_names(&daemon)
    );
    assert_image_files(&daemon, &image, name);

    let registry = Registry::start();
    let remote = format!("{}/ctr-io:1", registry.localhost());
    daemon.ctr(&["images", "tag", name, &remote]).ok();
    daemon
        .ctr(&["images", "push", "--plain-http", &remote])
        .ok();
    daemon.ctr(&["images", "rm", "--sync", &remote]).ok();

    let exported = daemon.dir().join("out.tar");
    daemon
        .ctr(&[
            "images",
            "export",
            "--all-platforms",
            exported.to_str().unwrap(),
            name,
        ])
        .ok();
    assert!(std::fs::metadata(&exported).unwrap().len() > 0);
    daemon.ctr(&["images", "rm", "--sync", name]).ok();
    assert!(
        daemon.ctr(&["content", "ls", "-q"]).ok().lines().is_empty(),
        "content left after rm --sync"
    );
    daemon
        .ctr(&[
            "images",
            "import",
            "--all-platforms",
            exported.to_str().unwrap(),
        ])
        .ok();
    assert!(
        image_names(&daemon).iter().any(|n| n == name),
        "re-imported: {:?}",
        image_names(&daemon)
    );
    assert_image_files(&daemon, &image, name);
    daemon.ctr(&["images", "rm", "--sync", name]).ok();
    assert!(
        daemon.ctr(&["content", "ls", "-q"]).ok().lines().is_empty(),
        "content left before fetch"
    );
    daemon
        .ctr(&["content", "fetch", "--plain-http", &remote])
        .ok();
    let digests = daemon.ctr(&["content", "ls", "-q"]).ok().lines();
    assert!(
        digests.len() >= 3,
        "fetched index, manifest, config and layers: {digests:?}"
    );
    assert!(
        daemon.ctr(&["snapshots", "ls"]).ok().lines().len() <= 1,
        "content fetch does not unpack"
    );
    daemon.ctr(&["version"]).ok();
}
