//! Reads the metadata of a root that Debian's containerd 1.6 wrote: an
//! imported image unpacked into the native snapshotter, a container with
//! its snapshot, a labelled namespace and a lease. Needs root (containerd).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// containerd on a temp root, stopped by pid however the test ends.
struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{r}\"\nstate = \"{s}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{a}\"\n[ttrpc]\n  address = \"{a}.ttrpc\"\n",
            r = d.join("root").display(),
            s = d.join("state").display(),
            a = d.join("c.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (Debian package containerd) must be installed");
        let c = Containerd {
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.ctr(&["version"]).is_err() {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(self.dir.path().join("c.sock"))
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
    }

    fn meta_db(&self) -> PathBuf {
        self.dir
            .path()
            .join("root/io.containerd.metadata.v1.bolt/meta.db")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An OCI archive with one uncompressed layer holding `/hello`.
fn oci_archive(path: &Path) -> String {
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "hello", &b"hi\n"[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]},
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config.as_bytes()), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(&layer), "size": layer.len()}],
    })
    .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest.as_bytes()), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "docker.io/library/adopt:1"},
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    })
    .to_string();
    let mut out = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", index.as_bytes());
    for blob in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
        add(&format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
    }
    out.finish().unwrap();
    sha(manifest.as_bytes())
}

#[test]
#[ignore = "requires root"]
fn a_root_written_by_containerd_1_6_is_read_back() {
    let mut containerd = Containerd::start();
    let archive = containerd.dir.path().join("image.tar");
    let manifest = oci_archive(&archive);
    let archive = archive.to_str().unwrap().to_string();
    containerd
        .ctr(&["namespaces", "create", "alpha", "team=red"])
        .unwrap();
    containerd
        .ctr(&[
            "-n",
            "alpha",
            "images",
            "import",
            "--snapshotter",
            "native",
            &archive,
        ])
        .unwrap();
    containerd
        .ctr(&[
            "-n", "alpha", "leases", "create", "--id", "lease1", "keep=yes",
        ])
        .unwrap();
    containerd
        .ctr(&[
            "-n",
            "alpha",
            "containers",
            "create",
            "--snapshotter",
            "native",
            "--label",
            "app=web",
            "docker.io/library/adopt:1",
            "ct1",
        ])
        .unwrap();
    containerd.stop();

    let inventory = crated_adopt::read_meta_db(&containerd.meta_db()).unwrap();
    assert_eq!(inventory.schema_version, 3);
    let ns = inventory
        .namespaces
        .iter()
        .find(|n| n.name == "alpha")
        .expect("namespace alpha");
    assert_eq!(ns.labels.get("team").map(String::as_str), Some("red"));

    assert_eq!(ns.images.len(), 1, "{:?}", ns.images);
    let image = &ns.images[0];
    assert_eq!(image.name, "docker.io/library/adopt:1");
    assert_eq!(image.digest, manifest);
    assert_eq!(
        image.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(image.size > 0 && image.created_at.is_some());
    // The manifest and what its gc labels reference (config, layer); ctr's
    // import also keeps the archive's index, which references the manifest.
    let by_digest: HashMap<&str, _> = ns.blobs.iter().map(|b| (b.digest.as_str(), b)).collect();
    let manifest_blob = by_digest
        .get(manifest.as_str())
        .unwrap_or_else(|| panic!("the manifest is not among {:?}", ns.blobs));
    let children: Vec<&str> = manifest_blob
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with("containerd.io/gc.ref.content."))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        children.len(),
        2,
        "config and layer: {:?}",
        manifest_blob.labels
    );
    for child in &children {
        assert!(
            by_digest.contains_key(child),
            "{child} missing from {:?}",
            ns.blobs
        );
    }
    for blob in &ns.blobs {
        let expected = blob.digest == manifest
            || children.contains(&blob.digest.as_str())
            || blob.labels.values().any(|v| *v == manifest);
        assert!(expected, "unexpected blob {blob:?}");
    }

    let ct = ns
        .containers
        .iter()
        .find(|c| c.id == "ct1")
        .expect("container ct1");
    assert_eq!(ct.runtime, "io.containerd.runc.v2");
    assert_eq!(ct.image, "docker.io/library/adopt:1");
    assert_eq!(ct.snapshotter, "native");
    assert_eq!(ct.snapshot_key, "ct1");
    assert_eq!(ct.labels.get("app").map(String::as_str), Some("web"));
    assert!(!ct.spec.is_empty());

    let active = ns
        .snapshots
        .iter()
        .find(|s| s.key == "ct1")
        .expect("snapshot ct1");
    let layer = ns
        .snapshots
        .iter()
        .find(|s| s.key == active.parent)
        .expect("the container's parent layer");
    assert_eq!(layer.snapshotter, "native");
    assert!(layer.parent.is_empty());
    assert!(!active.backend_key.is_empty() && active.backend_key != layer.backend_key);

    let lease = ns.leases.iter().find(|l| l.id == "lease1").expect("lease1");
    assert_eq!(lease.labels.get("keep").map(String::as_str), Some("yes"));
    assert!(lease.labels.contains_key("containerd.io/gc.expire"));
    assert!(
        inventory.unadoptable().is_empty(),
        "{:?}",
        inventory.unadoptable()
    );
}

#[test]
fn a_file_that_is_not_bbolt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    std::fs::write(&path, b"redb or anything else").unwrap();
    let err = crated_adopt::read_meta_db(&path).unwrap_err();
    assert!(err.to_string().contains("not a bbolt database"), "{err}");
}
