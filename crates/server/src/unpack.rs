//! The daemon's side of the image pipeline (`crated_images::pipeline`):
//! its ports implemented over the namespaced content store, the
//! namespaced snapshotters and the diff applier, so the Transfer service
//! (and the CRI next) unpack with the same code as the client.

use std::collections::HashMap;
use std::io::Read;

use async_trait::async_trait;
use crated_core::content::ReaderAt;
use crated_core::image::Descriptor;
use crated_core::mount::Mount;
use crated_core::{Error, ErrorKind, Result};
use crated_diff::ApplyConfig;
use crated_images::pipeline::{ContentSource, LayerTarget};
use crated_metadata::{NamespacedContent, NamespacedSnapshots};

use crate::blocking::run as blocking;

/// The stores and settings an unpack works with.
#[derive(Clone)]
pub struct Unpacker {
    /// Namespaced content.
    pub content: NamespacedContent,
    /// Namespaced snapshots.
    pub snapshots: NamespacedSnapshots,
    /// The applier's settings.
    pub apply: ApplyConfig,
}

/// Reads a blob front to back through its positional reader.
pub struct BlobReader {
    inner: Box<dyn ReaderAt>,
    offset: u64,
}

impl BlobReader {
    /// A reader of `inner` from its start.
    pub fn new(inner: Box<dyn ReaderAt>) -> Self {
        BlobReader { inner, offset: 0 }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .inner
            .read_at(buf, self.offset)
            .map_err(std::io::Error::from)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Namespace `ns` of the daemon's content store, as the pipeline reads it.
pub struct LocalContent {
    content: NamespacedContent,
    ns: String,
}

impl LocalContent {
    /// Namespace `ns` of `content`.
    pub fn new(content: NamespacedContent, ns: &str) -> Self {
        LocalContent {
            content,
            ns: ns.to_string(),
        }
    }
}

/// Adds `labels` to blob `digest` of namespace `ns`.
pub fn add_labels(
    content: &NamespacedContent,
    ns: &str,
    digest: &str,
    labels: HashMap<String, String>,
) -> Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    let mut info = content.info(ns, digest)?;
    let paths: Vec<String> = labels.keys().map(|k| format!("labels.{k}")).collect();
    info.labels.extend(labels);
    content.update(ns, info, &paths).map(|_| ())
}

#[async_trait]
impl ContentSource for LocalContent {
    async fn read(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let (content, ns, digest) = (self.content.clone(), self.ns.clone(), desc.digest.clone());
        blocking(move || {
            let reader = content.reader_at(&ns, &digest)?;
            if reader.size() > limit {
                return Err(Error::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "{digest} is {} bytes, over the limit of {limit}",
                        reader.size()
                    ),
                ));
            }
            let mut buf = Vec::new();
            BlobReader::new(reader)
                .take(limit + 1)
                .read_to_end(&mut buf)
                .map_err(|e| {
                    Error::with_source(ErrorKind::Internal, format_args!("reading {digest}"), e)
                })?;
            Ok(buf)
        })
        .await
    }

    async fn add_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<()> {
        let (content, ns, digest) = (self.content.clone(), self.ns.clone(), digest.to_string());
        blocking(move || add_labels(&content, &ns, &digest, labels)).await
    }
}

/// One snapshotter of namespace `ns` with the applier, holding what it
/// creates in `lease`.
pub struct LocalLayers {
    unpacker: Unpacker,
    ns: String,
    snapshotter: String,
    lease: Option<String>,
}

impl LocalLayers {
    /// Snapshotter `snapshotter` of namespace `ns`, under `lease`.
    pub fn new(unpacker: Unpacker, ns: &str, snapshotter: &str, lease: Option<&str>) -> Self {
        LocalLayers {
            unpacker,
            ns: ns.to_string(),
            snapshotter: snapshotter.to_string(),
            lease: lease.map(str::to_string),
        }
    }

    fn parts(&self) -> (Unpacker, String, String, Option<String>) {
        (
            self.unpacker.clone(),
            self.ns.clone(),
            self.snapshotter.clone(),
            self.lease.clone(),
        )
    }
}

#[async_trait]
impl LayerTarget for LocalLayers {
    type Mounts = Vec<Mount>;

    async fn exists(&self, key: &str) -> Result<bool> {
        let (u, ns, sn, _) = self.parts();
        let key = key.to_string();
        blocking(move || match u.snapshots.stat(&ns, &sn, &key) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let (u, ns, sn, lease) = self.parts();
        let (key, parent) = (key.to_string(), parent.to_string());
        blocking(move || {
            u.snapshots
                .prepare(&ns, &sn, &key, &parent, labels, lease.as_deref())
        })
        .await
    }

    async fn apply(&self, layer: &Descriptor, mounts: Vec<Mount>) -> Result<String> {
        let (u, ns, _, _) = self.parts();
        let layer = layer.clone();
        blocking(move || {
            let reader = BlobReader::new(u.content.reader_at(&ns, &layer.digest)?);
            crated_diff::apply(&mounts, &layer.media_type, reader, &u.apply).map(|s| s.diff_id)
        })
        .await
    }

    async fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        let (u, ns, sn, lease) = self.parts();
        let (name, key) = (name.to_string(), key.to_string());
        blocking(move || {
            u.snapshots
                .commit(&ns, &sn, &name, &key, labels, lease.as_deref())
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let (u, ns, sn, _) = self.parts();
        let key = key.to_string();
        blocking(move || u.snapshots.remove(&ns, &sn, &key)).await
    }
}
