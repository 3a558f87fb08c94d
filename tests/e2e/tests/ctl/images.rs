//! `cratectl containers run` from an image and `cratectl images ls|rm|tag|label|check`,
//! against a real crated running containerd's Go shim. The image is made in
//! the test: its config and manifest are written to the content store and
//! its single layer is committed as a snapshot named by its chain id,
//! exactly what unpacking a pulled image leaves behind.
//!
//! **Needs root**: the test starts crated (see `common::daemon`).

use std::collections::HashMap;
use std::path::Path;

use crated_client::images::{
    Descriptor, Image, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST, Platform,
};
use crated_client::{Client, ConnectOptions};
use sha2::{Digest, Sha256};

const IMAGE: &str = "test.local/busybox:1";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

async fn write(client: &Client, bytes: &[u8], labels: HashMap<String, String>) -> String {
    let d = digest(bytes);
    client
        .content()
        .write_blob(
            &format!("test-{d}"),
            Some(&d),
            Some(bytes.len() as i64),
            bytes,
            labels,
        )
        .await
        .expect("write blob");
    d
}

/// Stores image [`IMAGE`] whose one layer is `rootfs`, unpacked into
/// `snapshotter`.
async fn make_image(client: &Client, rootfs: &Path, snapshotter: &str) {
    // An empty tar (two zero blocks) stands for the layer's bytes; the
    // snapshot gets the files directly.
    let layer = vec![0u8; 1024];
    let diff_id = digest(&layer);
    let layer_digest = write(client, &layer, HashMap::new()).await;
    let platform = Platform::host();
    let config = serde_json::json!({
        "architecture": platform.architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin", "GREETING=hello"],
            "Cmd": ["sh", "-c", "echo $GREETING from $(pwd) as $(id -un)"],
            "WorkingDir": "/home/app",
            "User": "app",
            "Labels": {"org.test.kind": "busybox"},
            "StopSignal": "SIGKILL"
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = write(client, &config, HashMap::new()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer.len()}]
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let labels: HashMap<String, String> = [
        (
            "containerd.io/gc.ref.content.config".to_string(),
            config_digest.clone(),
        ),
        (
            "containerd.io/gc.ref.content.l.0".to_string(),
            layer_digest.clone(),
        ),
    ]
    .into();
    let manifest_digest = write(client, &manifest, labels).await;

    // Unpack: a snapshot with the layer's files, committed as the chain id.
    let snapshots = client.snapshots(snapshotter);
    let mounts = snapshots
        .prepare("extract-test", "", HashMap::new())
        .await
        .expect("prepare");
    let layers = crated_client::container::mount_layers(&mounts);
    let target = layers.first().expect("a writable layer");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", rootfs.display()))
        .arg(target)
        .status()
        .expect("cp");
    assert!(copied.success());
    snapshots
        .commit(&diff_id, "extract-test", HashMap::new())
        .await
        .expect("commit");

    client
        .images()
        .create(&Image {
            name: IMAGE.to_string(),
            target: Descriptor {
                media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
                digest: manifest_digest,
                size: manifest.len() as i64,
                ..Descriptor::default()
            },
            ..Image::default()
        })
        .await
        .expect("create image");
}

#[test]
fn run_from_an_image_and_manage_images() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("image-rootfs");
    let fifo = daemon.fifo_dir().display().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime
        .block_on(Client::connect(daemon.socket(), ConnectOptions::default()))
        .expect("connect");
    runtime.block_on(make_image(&client, &rootfs, "overlayfs"));

    let ls = daemon.cratectl(&["images", "ls"]).ok();
    let lines: Vec<String> = ls.stdout().lines().map(String::from).collect();
    assert!(lines[0].starts_with("REF "), "{ls:?}");
    assert!(
        lines[0].contains("TYPE") && lines[0].contains("PLATFORMS"),
        "{ls:?}"
    );
    assert!(lines[1].starts_with(IMAGE), "{ls:?}");
    assert!(lines[1].contains(MEDIA_TYPE_OCI_MANIFEST), "{ls:?}");
    assert!(
        lines[1].contains(&format!("linux/{}", Platform::host().architecture)),
        "{ls:?}"
    );
    assert_eq!(
        daemon.cratectl(&["images", "ls", "-q"]).ok().stdout(),
        format!("{IMAGE}\n")
    );
    let check = daemon.cratectl(&["images", "check"]).ok();
    assert!(check.stdout().contains("complete (3/3)"), "{check:?}");
    assert!(
        check.stdout().trim_end().ends_with("true"),
        "unpacked: {check:?}"
    );

    // The image's Cmd, Env, WorkingDir and User.
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            IMAGE,
            "i1",
        ])
        .ok();
    assert_eq!(out.stdout(), "hello from /home/app as app\n");
    // Arguments replace the command; the snapshot is writable and private.
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "-u",
            "0",
            IMAGE,
            "i2",
            "sh",
            "-c",
            "echo x > /file && cat /file && id -u",
        ])
        .ok();
    assert_eq!(out.stdout(), "x\n0\n");
    assert!(!rootfs.join("file").exists());
    assert!(daemon.ids("containers").is_empty());
    // --rm took the snapshots too.
    for key in ["i1", "i2"] {
        let gone = runtime.block_on(client.snapshots("overlayfs").stat(key));
        assert!(
            gone.is_err_and(|e| e.is_not_found()),
            "snapshot {key} left behind"
        );
    }

    // A detached container from the image: record, labels, snapshot.
    daemon
        .cratectl(&[
            "containers",
            "run",
            "-d",
            "--fifo-dir",
            &fifo,
            IMAGE,
            "i3",
            "sleep",
            "1000",
        ])
        .ok();
    let info: serde_json::Value =
        serde_json::from_str(&daemon.cratectl(&["containers", "info", "i3"]).ok().stdout())
            .unwrap();
    assert_eq!(info["Image"], IMAGE);
    assert_eq!(info["SnapshotKey"], "i3");
    assert_eq!(info["Snapshotter"], "overlayfs");
    assert_eq!(info["Labels"]["org.test.kind"], "busybox");
    assert_eq!(
        info["Labels"]["io.containerd.image.config.stop-signal"],
        "SIGKILL"
    );
    let ls = daemon.cratectl(&["containers", "ls"]).ok();
    assert!(ls.stdout().contains(IMAGE), "{ls:?}");
    // No signal given: the image's stop signal (SIGKILL) ends sleep.
    daemon.cratectl(&["tasks", "kill", "i3"]).ok();
    let wait = daemon.cratectl(&["tasks", "wait", "i3"]).ok();
    assert_eq!(wait.stdout(), "137\n");
    daemon.cratectl(&["containers", "rm", "i3"]).ok();
    let gone = runtime.block_on(client.snapshots("overlayfs").stat("i3"));
    assert!(
        gone.is_err_and(|e| e.is_not_found()),
        "snapshot i3 left behind"
    );

    // Errors name what to do.
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "test.local/none:1",
            "i4",
            "true",
        ])
        .fails();
    assert!(
        out.stderr.contains("not found") && out.stderr.contains("images ls"),
        "{out:?}"
    );
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--snapshotter",
            "native",
            IMAGE,
            "i5",
            "true",
        ])
        .fails();
    assert!(out.stderr.contains("not unpacked"), "{out:?}");

    // tag, label, rm.
    let tag = daemon
        .cratectl(&["images", "tag", IMAGE, "test.local/busybox:2"])
        .ok();
    assert_eq!(tag.stdout(), "test.local/busybox:2\n");
    daemon
        .cratectl(&["images", "tag", IMAGE, "test.local/busybox:2"])
        .fails();
    daemon
        .cratectl(&["images", "tag", "--force", IMAGE, "test.local/busybox:2"])
        .ok();
    let label = daemon
        .cratectl(&["images", "label", "test.local/busybox:2", "a=b", "c=d"])
        .ok();
    assert_eq!(label.stdout(), "a=b,c=d\n");
    let label = daemon
        .cratectl(&["images", "label", "test.local/busybox:2", "a="])
        .ok();
    assert_eq!(label.stdout(), "c=d\n");
    let rm = daemon
        .cratectl(&["images", "rm", "test.local/busybox:2", "test.local/none:1"])
        .ok();
    assert_eq!(rm.stdout(), "test.local/busybox:2\n");
    assert!(rm.stderr.contains("image not found"), "{rm:?}");
    assert_eq!(
        daemon.cratectl(&["images", "ls", "-q"]).ok().stdout(),
        format!("{IMAGE}\n")
    );
}
