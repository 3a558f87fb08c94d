//! Many clients pulling one image at once, with the production collection
//! schedule: every pull succeeds and nothing the image needs is collected
//! when the first pull's lease goes (a blob that already exists joins each
//! later writer's lease, as in containerd).
//!
//! **Needs root** (crated owns its socket and directories; `images mount`
//! mounts). Also needs Debian's `containerd` (`ctr`), `docker-registry` and
//! `busybox-static`. Every command is bounded in time; the daemon and the
//! registry are stopped by their pids.

use crated_e2e::Daemon;
use crated_e2e::image::build_image;
use crated_e2e::registry::Registry;
use crated_e2e::workload::GO_SHIM;

use crate::common::assert_image_files;

/// containerd's scheduler defaults: collect after every deletion.
const PRODUCTION_GC: &str = r#"[plugins."io.containerd.gc.v1.scheduler"]
deletion_threshold = 0
mutation_threshold = 100
schedule_delay = "0ms"
startup_delay = "100ms"
"#;

/// Ten concurrent `ctr images pull` of one image from a local registry all
/// succeed, and the image is whole afterwards. Needs root.
#[test]
fn ten_concurrent_ctr_pulls_of_one_image_all_succeed() {
    let daemon = Daemon::builder()
        .runtime_path("io.containerd.runc.v2", GO_SHIM)
        .clean_up_containers()
        .with_gc()
        .config_tail(PRODUCTION_GC)
        .start();
    let image = build_image();
    let name = "docker.io/library/concurrent-pull:1";
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
    let registry = Registry::start();
    let remote = format!("{}/concurrent-pull:1", registry.host());
    daemon.ctr(&["images", "tag", name, &remote]).ok();
    daemon
        .ctr(&["images", "push", "--plain-http", &remote])
        .ok();
    daemon.ctr(&["images", "rm", "--sync", &remote]).ok();
    daemon.ctr(&["images", "rm", "--sync", name]).ok();

    let failures: Vec<String> = std::thread::scope(|scope| {
        let pulls: Vec<_> = (0..10)
            .map(|_| scope.spawn(|| daemon.ctr(&["images", "pull", "--plain-http", &remote])))
            .collect();
        pulls
            .into_iter()
            .map(|p| p.join().expect("pull thread"))
            .filter(|out| !out.status.success())
            .map(|out| out.stderr)
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of 10 concurrent pulls failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_image_files(&daemon, &image, &remote);
}
