//! A small multi-platform OCI image built in memory.

use bytes::Bytes;
use crated_core::image::Descriptor;
use crated_remotes::media_types::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use crated_remotes::{PushOutcome, Pusher};
use crated_testkit::test_bytes;
use serde_json::json;

/// Content and its descriptor.
#[derive(Clone)]
pub struct Blob {
    pub desc: Descriptor,
    pub data: Bytes,
}

impl Blob {
    pub fn new(media_type: &str, data: impl Into<Bytes>) -> Blob {
        let data = data.into();
        Blob {
            desc: Descriptor {
                media_type: media_type.to_string(),
                digest: crated_testkit::sha256_digest(&data),
                size: data.len() as i64,
                annotations: Default::default(),
            },
            data,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"mediaType": self.desc.media_type, "digest": self.desc.digest, "size": self.desc.size})
    }
}

/// An image: blobs (layers and configs), per-platform manifests, an index.
pub struct TestImage {
    pub blobs: Vec<Blob>,
    pub manifests: Vec<Blob>,
    pub index: Blob,
}

/// A gzip-compressed tar of `files` (path, content).
pub fn layer(files: &[(&str, &[u8])]) -> Blob {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, path, *content).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    Blob::new(OCI_LAYER_GZIP, gz.finish().unwrap())
}

/// Two platforms (linux/amd64, linux/arm64) sharing a base layer, each
/// with its own layer and config; `tag` makes content unique per test.
pub fn build(tag: &str) -> TestImage {
    let base = layer(&[
        ("hello.txt", format!("hello from {tag}\n").as_bytes()),
        ("data.bin", &test_bytes(40_000, 7)),
    ]);
    let mut blobs = vec![base.clone()];
    let mut manifests = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let own = layer(&[("arch.txt", arch.as_bytes())]);
        let config = Blob::new(
            OCI_CONFIG,
            serde_json::to_vec(&json!({
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"], "Labels": {"test": tag}},
                "rootfs": {"type": "layers", "diff_ids": []},
            }))
            .unwrap(),
        );
        let manifest = Blob::new(
            OCI_MANIFEST,
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.json(),
                "layers": [base.json(), own.json()],
            }))
            .unwrap(),
        );
        let mut entry = manifest.json();
        entry["platform"] = json!({"architecture": arch, "os": "linux"});
        entries.push(entry);
        blobs.push(own);
        blobs.push(config);
        manifests.push(manifest);
    }
    let index = Blob::new(
        OCI_INDEX,
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .unwrap(),
    );
    TestImage {
        blobs,
        manifests,
        index,
    }
}

/// Pushes blobs, then manifests by digest, then the index under the tag;
/// returns every outcome in that order.
pub async fn push(pusher: &Pusher, image: &TestImage) -> Vec<PushOutcome> {
    let mut outcomes = Vec::new();
    for blob in &image.blobs {
        outcomes.push(
            pusher
                .push_bytes(&blob.desc, blob.data.clone())
                .await
                .unwrap(),
        );
    }
    for m in &image.manifests {
        outcomes.push(pusher.push_bytes(&m.desc, m.data.clone()).await.unwrap());
    }
    outcomes.push(
        pusher
            .push_root(&image.index.desc, image.index.data.clone())
            .await
            .unwrap(),
    );
    outcomes
}
