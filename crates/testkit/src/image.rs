//! A small test image built in memory: layer tars ([`tar_of`], [`gzip`])
//! and [`build_image`], a two-layer image (a gzip and a plain tar layer,
//! with a whiteout and an opaque directory) for the host's platform and one
//! other, under an OCI index; [`TestImage::oci_archive`] writes it as an OCI
//! layout tar, [`check_tree`] checks an unpacked copy.

// Building tars into memory cannot fail short of a bug, and a missing file
// in an unpacked tree is the assertion's subject: both stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::util::sha256_digest as sha256;

/// A tar of regular files (mode 0644), as OCI layout and `docker save`
/// archives are: [`FileTar::add`] each file, then [`FileTar::finish`].
pub struct FileTar {
    builder: tar::Builder<Vec<u8>>,
}

impl FileTar {
    /// An empty archive.
    pub fn new() -> FileTar {
        FileTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends the file `path` holding `data`.
    #[track_caller]
    pub fn add(&mut self, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder
            .append_data(&mut header, path, data)
            .unwrap_or_else(|e| panic!("adding {path} to a tar: {e}"));
    }

    /// The archive's bytes.
    #[track_caller]
    pub fn finish(self) -> Vec<u8> {
        self.builder
            .into_inner()
            .unwrap_or_else(|e| panic!("finishing a tar: {e}"))
    }
}

impl Default for FileTar {
    fn default() -> Self {
        Self::new()
    }
}

/// A tar entry of a test layer.
pub enum Entry<'a> {
    /// A directory (0755).
    Dir(&'a str),
    /// A regular file: path, content, mode.
    File(&'a str, &'a [u8], u32),
    /// A symbolic link: path, target.
    Symlink(&'a str, &'a str),
    /// A hard link: path, target (an earlier entry).
    Hardlink(&'a str, &'a str),
}

/// A tar of `entries` (root-owned, fixed mtime), in order.
#[track_caller]
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// `data` gzip-compressed.
#[track_caller]
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The files the unpacked image must have, and what must be gone.
pub struct Expected {
    /// The bytes of `/bin/busybox` the image carries.
    pub busybox: Vec<u8>,
}

/// The applets linked to busybox in the image.
pub const APPLETS: [&str; 4] = ["sh", "ls", "cat", "echo"];

/// The platform that is not the host's in the test index.
pub fn other_platform() -> (&'static str, &'static str) {
    if std::env::consts::ARCH == "aarch64" {
        ("amd64", "")
    } else {
        ("arm64", "v8")
    }
}

/// The host's architecture as OCI (Go) names it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The blobs of the test image and its root (an index).
pub struct TestImage {
    /// Every blob: (digest, bytes), the index last.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// The index's digest.
    pub index_digest: String,
    /// The index's size.
    pub index_size: usize,
    /// The digest of the host platform's manifest.
    pub host_manifest: String,
    /// The digest of the other platform's config.
    pub other_config: String,
    /// The layer digests (compressed), bottom first.
    pub layers: Vec<String>,
    /// The layers' diff ids (uncompressed digests).
    pub diff_ids: Vec<String>,
    /// What the unpacked image holds.
    pub expected: Expected,
}

/// Builds the test image from `/bin/busybox` (Debian's `busybox-static`).
#[track_caller]
pub fn build_image() -> TestImage {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static)");
    let mut lower = vec![
        Entry::Dir("bin"),
        Entry::File("bin/busybox", &busybox, 0o755),
    ];
    for applet in APPLETS {
        lower.push(Entry::Symlink(
            Box::leak(format!("bin/{applet}").into_boxed_str()),
            "busybox",
        ));
    }
    lower.extend([
        Entry::Hardlink("bin/busybox.hard", "bin/busybox"),
        Entry::Dir("etc"),
        Entry::File("etc/hostname", b"crated-test\n", 0o644),
        Entry::File("etc/removed", b"gone in the next layer\n", 0o644),
        Entry::Dir("data"),
        Entry::File("data/old.txt", b"hidden by an opaque dir\n", 0o600),
    ]);
    let upper = vec![
        Entry::Dir("etc"),
        Entry::File("etc/.wh.removed", b"", 0o644),
        Entry::File("etc/added", b"added in layer 2\n", 0o644),
        Entry::Dir("data"),
        Entry::File("data/.wh..wh..opq", b"", 0o644),
        Entry::File("data/new.txt", b"new\n", 0o644),
    ];
    let tar1 = tar_of(&lower);
    let tar2 = tar_of(&upper);
    let layer1 = gzip(&tar1);
    let diff_ids = vec![sha256(&tar1), sha256(&tar2)];
    let layers = vec![sha256(&layer1), sha256(&tar2)];
    let mut blobs = vec![
        (layers[0].clone(), layer1.clone()),
        (layers[1].clone(), tar2.clone()),
    ];
    let layer_descriptors = serde_json::json!([
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layers[0], "size": layer1.len()},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layers[1], "size": tar2.len()},
    ]);
    let mut manifests = Vec::new();
    let mut host_manifest = String::new();
    let mut other_config = String::new();
    let (other_arch, other_variant) = other_platform();
    for (arch, variant) in [(host_arch(), ""), (other_arch, other_variant)] {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "variant": variant,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = sha256(&config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layer_descriptors,
        }))
        .unwrap();
        let manifest_digest = sha256(&manifest);
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if !variant.is_empty() {
            platform["variant"] = variant.into();
        }
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": platform,
        }));
        if arch == host_arch() {
            host_manifest = manifest_digest.clone();
        } else {
            other_config = config_digest.clone();
        }
        blobs.push((config_digest, config));
        blobs.push((manifest_digest, manifest));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let index_digest = sha256(&index);
    let index_size = index.len();
    blobs.push((index_digest.clone(), index));
    TestImage {
        blobs,
        index_digest,
        index_size,
        host_manifest,
        other_config,
        layers,
        diff_ids,
        expected: Expected { busybox },
    }
}

impl TestImage {
    /// An OCI layout tar naming the index `name`.
    pub fn oci_archive(&self, name: &str) -> Vec<u8> {
        let mut tar = FileTar::new();
        let mut add = |path: &str, data: &[u8]| tar.add(path, data);
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (digest, data) in &self.blobs {
            add(&format!("blobs/{}", digest.replace(':', "/")), data);
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": self.index_digest,
                "size": self.index_size,
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"},
            }],
        }))
        .unwrap();
        add("index.json", &index);
        tar.finish()
    }

    /// The chain id of the whole image.
    pub fn chain_id(&self) -> String {
        let second = sha256(format!("{} {}", self.diff_ids[0], self.diff_ids[1]).as_bytes());
        assert!(second.starts_with("sha256:"));
        second
    }
}

/// Asserts that `root` holds the unpacked test image: busybox and its
/// links, the hard link, layer 2's additions, and neither the whited-out
/// file nor what the opaque directory hides.
#[track_caller]
pub fn check_tree(root: &Path, expected: &Expected) {
    let busybox = std::fs::read(root.join("bin/busybox")).expect("bin/busybox");
    assert!(
        busybox == expected.busybox,
        "bin/busybox differs from /bin/busybox"
    );
    let meta = std::fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755);
    for applet in APPLETS {
        let link = std::fs::read_link(root.join("bin").join(applet)).expect("applet link");
        assert_eq!(link, PathBuf::from("busybox"));
    }
    let hard = std::fs::metadata(root.join("bin/busybox.hard")).unwrap();
    assert_eq!(hard.ino(), meta.ino(), "bin/busybox.hard is a hard link");
    assert_eq!(
        std::fs::read(root.join("etc/hostname")).unwrap(),
        b"crated-test\n"
    );
    assert_eq!(
        std::fs::read(root.join("etc/added")).unwrap(),
        b"added in layer 2\n"
    );
    assert!(
        !root.join("etc/removed").exists(),
        "the whiteout hides etc/removed"
    );
    assert!(
        !root.join("etc/.wh.removed").exists(),
        "whiteout files are not visible"
    );
    assert!(
        !root.join("data/old.txt").exists(),
        "the opaque directory hides data/old.txt"
    );
    assert_eq!(std::fs::read(root.join("data/new.txt")).unwrap(), b"new\n");
}
