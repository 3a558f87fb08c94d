//! What the `cratectl` tests share over the test kit: a daemon running
//! containerd's Go shim for `io.containerd.runc.v2`, and image checks
//! through `cratectl`.

use std::path::Path;

pub use crated_e2e::Daemon;
use crated_e2e::image::{TestImage, check_tree};
use crated_e2e::sha256_digest;
use crated_e2e::workload::GO_SHIM;

/// Starts crated with containerd's Go shim for `io.containerd.runc.v2`;
/// dropping it kills every task and removes every container first.
#[track_caller]
pub fn daemon() -> Daemon {
    start_daemon_with("", None)
}

/// Like [`daemon`], with `extra` appended to the configuration and, if
/// given, `root` as the root directory.
#[track_caller]
pub fn start_daemon_with(extra: &str, root: Option<&Path>) -> Daemon {
    assert!(
        Path::new(GO_SHIM).is_file(),
        "{GO_SHIM} is missing (install Debian's containerd)"
    );
    let mut builder = Daemon::builder()
        .runtime_path("io.containerd.runc.v2", GO_SHIM)
        .clean_up_containers()
        .config_tail(extra);
    if let Some(root) = root {
        builder = builder.root_dir(root);
    }
    builder.start()
}

/// Mounts image `name` with `cratectl images mount`, checks its files, and
/// unmounts it again.
#[track_caller]
pub fn assert_image_files(daemon: &Daemon, image: &TestImage, name: &str) {
    let target = daemon
        .dir()
        .join(format!("mnt-{}", sha256_digest(name.as_bytes())));
    std::fs::create_dir_all(&target).unwrap();
    let target_arg = target.to_str().unwrap();
    let out = daemon.cratectl(&["images", "mount", name, target_arg]).ok();
    out.stdout_has(&image.chain_id());
    let checked = std::panic::catch_unwind(|| check_tree(&target, &image.expected));
    daemon.cratectl(&["images", "unmount", target_arg]).ok();
    assert!(
        std::fs::read_dir(&target).unwrap().next().is_none(),
        "the target is empty after unmount"
    );
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

/// The snapshot keys `cratectl snapshots ls -q` lists.
#[track_caller]
pub fn snapshot_keys(daemon: &Daemon) -> Vec<String> {
    daemon.ids("snapshots")
}

/// The digests `cratectl content ls -q` lists.
#[track_caller]
pub fn content_digests(daemon: &Daemon) -> Vec<String> {
    daemon.ids("content")
}

/// The names `cratectl images ls -q` lists.
#[track_caller]
pub fn image_names(daemon: &Daemon) -> Vec<String> {
    daemon.ids("images")
}

/// Pushes local image `local` to `remote` over plain HTTP with `cratectl`
/// and removes it locally, so the registry holds the only copy.
#[track_caller]
pub fn push_then_remove(daemon: &Daemon, remote: &str, local: &str) {
    daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "none",
            remote,
            local,
        ])
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
}
