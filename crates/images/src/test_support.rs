//! In-memory doubles of the pipeline's ports for unit tests.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};

use crate::media;
use crate::pipeline::{ContentSource, LayerTarget};
use crate::platform::Platform;

/// Runs `f` to completion on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

/// Blobs and their labels in memory; counts reads.
#[derive(Default)]
pub struct MemContent {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    labels: Mutex<HashMap<String, HashMap<String, String>>>,
    reads: AtomicUsize,
}

impl MemContent {
    /// Stores `data`; its descriptor with `media_type`.
    pub fn put(&self, media_type: &str, data: &[u8]) -> Descriptor {
        let digest = crated_core::digest::sha256(data);
        self.blobs
            .lock()
            .unwrap()
            .insert(digest.clone(), data.to_vec());
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: data.len() as i64,
            annotations: HashMap::new(),
        }
    }

    /// How many blobs were read.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The labels of `digest`.
    pub fn labels(&self, digest: &str) -> HashMap<String, String> {
        self.labels
            .lock()
            .unwrap()
            .get(digest)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl ContentSource for MemContent {
    async fn read(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let blobs = self.blobs.lock().unwrap();
        let data = blobs
            .get(&desc.digest)
            .ok_or_else(|| Error::not_found(desc.digest.clone()))?;
        if data.len() as u64 > limit {
            return Err(crate::pipeline::resolve_too_large(
                &desc.digest,
                data.len() as u64,
            ));
        }
        Ok(data.clone())
    }

    async fn add_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<()> {
        self.labels
            .lock()
            .unwrap()
            .entry(digest.to_string())
            .or_default()
            .extend(labels);
        Ok(())
    }
}

/// An index for the host holding one manifest of `layers` layers (whose
/// "blobs" are their own diff ids' preimages). Returns (index, manifest).
pub fn image(mem: &MemContent, layers: usize) -> (Descriptor, Descriptor) {
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let d = mem.put(media::OCI_LAYER, format!("layer {i}").as_bytes());
        diff_ids.push(d.digest.clone());
        layer_descs.push(
            serde_json::json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size}),
        );
    }
    let host = Platform::host();
    let config = serde_json::json!({
        "architecture": host.architecture, "os": host.os,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = mem.put(media::OCI_CONFIG, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.size},
        "layers": layer_descs,
    });
    let manifest = mem.put(media::OCI_MANIFEST, manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX,
        "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
            "platform": {"os": host.os, "architecture": host.architecture}}],
    });
    let index = mem.put(media::OCI_INDEX, index.to_string().as_bytes());
    (index, manifest)
}

/// Snapshots in memory; `apply` answers the layer's digest as diff id
/// (matching [`image`]'s configs) unless `wrong_diff`.
#[derive(Default)]
pub struct MemSnapshots {
    /// Answer a wrong diff id.
    pub wrong_diff: bool,
    /// Commit answers AlreadyExists, as when another unpack won.
    pub commit_races: bool,
    /// Active keys.
    pub active: Mutex<HashSet<String>>,
    /// Committed names.
    pub committed: Mutex<HashSet<String>>,
}

impl MemSnapshots {
    /// Active keys.
    pub fn active(&self) -> HashSet<String> {
        self.active.lock().unwrap().clone()
    }

    /// Committed names.
    pub fn committed(&self) -> HashSet<String> {
        self.committed.lock().unwrap().clone()
    }
}

#[async_trait]
impl LayerTarget for MemSnapshots {
    type Mounts = String;

    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.committed.lock().unwrap().contains(key)
            || self.active.lock().unwrap().contains(key))
    }

    async fn prepare(&self, key: &str, _: &str, _: HashMap<String, String>) -> Result<String> {
        if !self.active.lock().unwrap().insert(key.to_string()) {
            return Err(Error::new(ErrorKind::AlreadyExists, key.to_string()));
        }
        Ok(key.to_string())
    }

    async fn apply(&self, layer: &Descriptor, _: String) -> Result<String> {
        if self.wrong_diff {
            return Ok(format!("sha256:{}", "0".repeat(64)));
        }
        Ok(layer.digest.clone())
    }

    async fn commit(&self, name: &str, key: &str, _: HashMap<String, String>) -> Result<()> {
        if self.commit_races {
            return Err(Error::new(ErrorKind::AlreadyExists, name.to_string()));
        }
        self.active.lock().unwrap().remove(key);
        self.committed.lock().unwrap().insert(name.to_string());
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.active.lock().unwrap().remove(key);
        Ok(())
    }
}
