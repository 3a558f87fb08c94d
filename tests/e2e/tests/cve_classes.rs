//! One regression test per class of containerd security advisory that
//! applies to crated today, named for the class.
//!
//! **Needs root** (see `crated_e2e::Daemon`): the checks run as `nobody`
//! (uid/gid 65534) in child processes, and containers run with runc (the
//! CRI's through pods on a CNI bridge of the test's own).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crated_api::cri::{self, NamespaceMode};
use crated_e2e::client::{connect_with, runtime};
use crated_e2e::cri::{
    Network, container, import_image, pod_config, run_pod, start_container, stop_and_remove_pod,
};
use crated_e2e::workload::{BusyboxRootfs, Cleanup, bundle_dir, ctr_run_sleeper};
use crated_e2e::{Daemon, test_bytes};

const NOBODY: u32 = 65534;

/// Runs `program args` as `nobody`; returns (succeeded, stderr).
fn as_nobody(program: &str, args: &[&Path]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("running {program} as nobody: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// CVE-2021-41103 (world-readable state): with the daemon's directory open
/// to everyone (as `/var/lib` and `/run` are), `nobody` can read none of a
/// running container's `config.json` (its environment holds secrets), the
/// metadata database, a blob, nor list the ingest directory; root and
/// state are 0700 and a root left 0711 by an earlier version is tightened
/// at startup. Needs root.
#[test]
fn world_readable_state_cve_2021_41103() {
    let daemon = Daemon::builder()
        .prepare(|dir| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
            std::fs::create_dir_all(dir.join("root")).unwrap_or_else(|e| panic!("mkdir: {e}"));
            std::fs::set_permissions(dir.join("root"), std::fs::Permissions::from_mode(0o711))
                .unwrap_or_else(|e| panic!("chmod root: {e}"));
        })
        .start();
    assert_eq!(mode(&daemon.root()), 0o700, "root");
    assert_eq!(mode(&daemon.state()), 0o700, "state");

    let blob = test_bytes(4_000, 7);
    let digest = daemon.ingest("default", "secret-blob", &blob);
    let rootfs = BusyboxRootfs::new();
    let id = format!("cve-41103-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, "default");
    cleanup.add(&id);
    ctr_run_sleeper(&daemon, &rootfs, &id, &["--env", "API_TOKEN=hunter2"])
        .run()
        .ok();

    let content = daemon.root().join("io.containerd.content.v1.content");
    let secrets: Vec<PathBuf> = vec![
        bundle_dir(&daemon, "default", &id).join("config.json"),
        daemon
            .root()
            .join("io.containerd.metadata.v1.bolt")
            .join("meta.db"),
        content
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    ];
    for path in &secrets {
        assert!(path.is_file(), "{} should exist", path.display());
        let (read, stderr) = as_nobody("cat", &[path]);
        assert!(!read, "nobody read {}", path.display());
        assert!(stderr.contains("Permission denied"), "{stderr}");
    }
    let ingest = content.join("ingest");
    assert!(ingest.is_dir());
    let (listed, stderr) = as_nobody("ls", &[&ingest]);
    assert!(!listed, "nobody listed {}", ingest.display());
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(mode(&bundle_dir(&daemon, "default", &id)), 0o700, "bundle");
    assert_eq!(
        mode(&bundle_dir(&daemon, "default", &id).join("config.json")),
        0o600,
        "spec"
    );
}

/// CVE-2020-15257 (shim API reachable from a container): the shim of a
/// host-network container listens on a pathname socket (not an abstract
/// one, which a container in the host's network namespace could reach),
/// and the socket is open to root only (0600, as containerd's; its
/// directory may predate the shim, so its mode is not ours to check).
/// Needs root.
#[test]
fn shim_api_unreachable_from_containers_cve_2020_15257() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let id = format!("cve-15257-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, "default");
    cleanup.add(&id);
    ctr_run_sleeper(&daemon, &rootfs, &id, &["--net-host"])
        .run()
        .ok();
    cleanup.shim(crated_e2e::workload::expect_shim_pid(
        &daemon, "default", &id,
    ));
    let address = std::fs::read_to_string(bundle_dir(&daemon, "default", &id).join("address"))
        .unwrap_or_else(|e| panic!("reading the shim address: {e}"));
    let path = address
        .trim()
        .strip_prefix("unix://")
        .unwrap_or_else(|| panic!("shim address {address:?} is not unix://"));
    assert!(!path.starts_with('@'), "abstract shim socket {path}");
    let socket = Path::new(path);
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(socket).unwrap_or_else(|e| panic!("stat {path}: {e}"));
    assert!(meta.file_type().is_socket(), "{path} is not a socket");
    assert_eq!(mode(socket) & 0o077, 0, "socket {path} is open to others");
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let name = socket
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        !unix
            .lines()
            .any(|l| l.contains(&format!("@{name}")) || l.contains(&format!("@{path}"))),
        "an abstract socket named like the shim's exists"
    );
}

/// Runs `script` in container `id` through ExecSync; returns (stdout, exit code).
async fn exec_sync(client: &crated_client::Client, id: &str, script: &str) -> (String, i32) {
    let out = client
        .cri_runtime()
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: ["/bin/sh", "-c", script].map(String::from).to_vec(),
            timeout: 30,
        })
        .await
        .unwrap_or_else(|e| panic!("ExecSync {script:?}: {e}"))
        .into_inner();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.exit_code,
    )
}

/// CVE-2022-23648 (host files through image volumes): an image declaring
/// volumes at symlinks that lead out of its root filesystem (`/abs-link ->
/// /etc`, `/rel-link -> ../../../../../../../../etc`) gets, through
/// CreateContainer, copies of the image's own `/etc`, never of the
/// host's; an ordinary volume gets the image's files; the volumes live in
/// the container's directory and go with RemoveContainer. Needs root.
#[test]
fn host_files_through_image_volumes_cve_2022_23648() {
    const VOLUMES_IMAGE: &str = "docker.io/library/cri-volumes:test";
    let network = Network::new(5);
    let daemon = network.daemon();
    assert!(
        Path::new("/etc/os-release").is_file(),
        "the host has no /etc/os-release to tell its /etc from the image's"
    );
    let rootfs = BusyboxRootfs::new();
    let image_root = rootfs.path();
    std::fs::write(image_root.join("etc/image-marker"), "from the image\n")
        .unwrap_or_else(|e| panic!("writing the image's marker: {e}"));
    std::fs::create_dir_all(image_root.join("var/data"))
        .unwrap_or_else(|e| panic!("creating var/data: {e}"));
    std::fs::write(image_root.join("var/data/seed"), "seeded\n")
        .unwrap_or_else(|e| panic!("writing var/data/seed: {e}"));
    std::os::unix::fs::symlink("/etc", image_root.join("abs-link"))
        .unwrap_or_else(|e| panic!("symlink abs-link: {e}"));
    std::os::unix::fs::symlink("../../../../../../../../etc", image_root.join("rel-link"))
        .unwrap_or_else(|e| panic!("symlink rel-link: {e}"));
    let tar = rootfs.oci_image_tar_with(
        VOLUMES_IMAGE,
        serde_json::json!({
            "Cmd": ["/bin/sh"],
            "Env": ["PATH=/bin"],
            "Volumes": {"/abs-link": {}, "/rel-link": {}, "/var/data": {}},
        }),
    );
    import_image(&daemon, &tar);

    runtime().block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let config = pod_config("volumes", NamespaceMode::Pod as i32);
        let pod = run_pod(&client, &config).await;
        let mut spec = container("volumes", "exec sleep 300");
        spec.image = Some(cri::ImageSpec {
            image: VOLUMES_IMAGE.into(),
            ..cri::ImageSpec::default()
        });
        let id = start_container(&client, &pod, &config, spec).await;

        for volume in ["/abs-link", "/rel-link"] {
            let (out, code) = exec_sync(&client, &id, &format!("cat {volume}/image-marker")).await;
            assert_eq!((out.as_str(), code), ("from the image\n", 0), "{volume}");
        }
        let (out, code) = exec_sync(&client, &id, "cat /var/data/seed").await;
        assert_eq!((out.as_str(), code), ("seeded\n", 0));
        let (_, code) = exec_sync(&client, &id, "test -e /etc/os-release").await;
        assert_eq!(
            code, 1,
            "the host's /etc/os-release is visible in the container"
        );

        let volumes = daemon
            .root()
            .join("io.containerd.grpc.v1.cri/containers")
            .join(&id)
            .join("volumes");
        let dirs: Vec<PathBuf> = std::fs::read_dir(&volumes)
            .unwrap_or_else(|e| panic!("reading {}: {e}", volumes.display()))
            .map(|entry| {
                entry
                    .unwrap_or_else(|e| panic!("reading an entry: {e}"))
                    .path()
            })
            .collect();
        assert_eq!(dirs.len(), 3, "one directory per image volume: {dirs:?}");
        for dir in &dirs {
            assert!(
                !dir.join("os-release").exists(),
                "the host's /etc was copied into {}",
                dir.display()
            );
        }
        let markers = dirs
            .iter()
            .filter(|d| d.join("image-marker").is_file())
            .count();
        assert_eq!(
            markers, 2,
            "the two linked volumes hold the image's /etc: {dirs:?}"
        );

        let mut rt = client.cri_runtime();
        rt.remove_container(cri::RemoveContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer {id}: {e}"));
        assert!(
            !volumes.exists(),
            "the image volumes outlived their container"
        );
        stop_and_remove_pod(&client, &pod).await;
    });
}
