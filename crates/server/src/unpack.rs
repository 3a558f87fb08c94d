//! Unpacking an image's layers into a snapshotter, in the daemon: each
//! layer is applied on top of its parent's snapshot and committed under its
//! chain id, which later pulls of images sharing layers reuse.

use std::collections::HashMap;
use std::io::Read;

use crated_core::content::ReaderAt;
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use crated_diff::ApplyConfig;
use crated_images::walk::PlatformChoice;
use crated_images::{ImageConfig, Index, Manifest, chain, media};
use crated_metadata::{NamespacedContent, NamespacedSnapshots};

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
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// A manifest chosen for a platform, with its parsed config.
pub struct Resolved {
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The parsed manifest.
    pub parsed: Manifest,
    /// The parsed config.
    pub config: ImageConfig,
}

impl Unpacker {
    fn read(&self, ns: &str, digest: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        BlobReader::new(self.content.reader_at(ns, digest)?)
            .read_to_end(&mut buf)
            .map_err(|e| Error::internal(format!("reading {digest}: {e}")))?;
        Ok(buf)
    }

    /// Follows `target` (an index or a manifest) to the manifest for
    /// `platform` and reads its config.
    pub fn resolve(
        &self,
        ns: &str,
        target: &Descriptor,
        platform: &PlatformChoice,
    ) -> Result<Resolved> {
        let mut desc = target.clone();
        for _ in 0..4 {
            if media::is_index(&desc.media_type) {
                let index = Index::parse(&self.read(ns, &desc.digest)?)?;
                let chosen = crated_images::walk::select_manifests(&index, platform)?;
                desc = chosen
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::not_found("empty image index"))?;
                continue;
            }
            let parsed = Manifest::parse(&self.read(ns, &desc.digest)?)?;
            let config = ImageConfig::parse(&self.read(ns, &parsed.config.digest)?)?;
            if config.rootfs.diff_ids.len() != parsed.layers.len() {
                return Err(Error::invalid_argument(format!(
                    "image config lists {} layers but the manifest has {}",
                    config.rootfs.diff_ids.len(),
                    parsed.layers.len()
                )));
            }
            return Ok(Resolved {
                manifest: desc,
                parsed,
                config,
            });
        }
        Err(Error::invalid_argument("image indexes nested too deep"))
    }

    /// Applies layer `i` of `image` on top of the chain before it, unless
    /// a snapshot for its chain id already exists. Returns the chain id.
    pub fn unpack_layer(
        &self,
        ns: &str,
        snapshotter: &str,
        image: &Resolved,
        i: usize,
        lease: Option<&str>,
    ) -> Result<String> {
        let chain = chain::chain_ids(&image.config.rootfs.diff_ids);
        let id = chain[i].clone();
        if self.snapshots.stat(ns, snapshotter, &id).is_ok() {
            return Ok(id);
        }
        let parent = if i == 0 {
            String::new()
        } else {
            chain[i - 1].clone()
        };
        let key = format!("{} {id}", crate::services::unique_name("extract"));
        let labels = HashMap::from([("containerd.io/snapshot.ref".to_string(), id.clone())]);
        let mounts =
            self.snapshots
                .prepare(ns, snapshotter, &key, &parent, labels.clone(), lease)?;
        let layer = &image.parsed.layers[i];
        let applied = self.content.reader_at(ns, &layer.digest).and_then(|r| {
            crated_diff::apply(&mounts, &layer.media_type, BlobReader::new(r), &self.apply)
        });
        let outcome = applied.and_then(|stats| {
            let want = &image.config.rootfs.diff_ids[i];
            if &stats.diff_id != want {
                return Err(Error::failed_precondition(format!(
                    "layer {} unpacked to {}, but the image config expects {want}",
                    layer.digest, stats.diff_id
                )));
            }
            match self
                .snapshots
                .commit(ns, snapshotter, &id, &key, labels, lease)
            {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(e),
                other => other,
            }
        });
        match outcome {
            Ok(()) => Ok(id),
            Err(e) => {
                let _ = self.snapshots.remove(ns, snapshotter, &key);
                if e.kind() == ErrorKind::AlreadyExists {
                    return Ok(id);
                }
                Err(e.context(format!(
                    "unpacking layer {} of {}",
                    layer.digest, image.manifest.digest
                )))
            }
        }
    }

    /// Unpacks every layer of `image` and labels its config so garbage
    /// collection keeps the snapshot chain while the image exists.
    pub fn unpack(
        &self,
        ns: &str,
        snapshotter: &str,
        image: &Resolved,
        lease: Option<&str>,
    ) -> Result<String> {
        let mut top = String::new();
        for i in 0..image.parsed.layers.len() {
            top = self.unpack_layer(ns, snapshotter, image, i, lease)?;
        }
        self.label_config(ns, snapshotter, image, &top)?;
        Ok(top)
    }

    /// Sets `containerd.io/gc.ref.snapshot.<snapshotter>` on the config blob.
    pub fn label_config(
        &self,
        ns: &str,
        snapshotter: &str,
        image: &Resolved,
        top: &str,
    ) -> Result<()> {
        if top.is_empty() {
            return Ok(());
        }
        let mut info = self.content.info(ns, &image.parsed.config.digest)?;
        let key = format!("containerd.io/gc.ref.snapshot.{snapshotter}");
        info.labels.insert(key.clone(), top.to_string());
        self.content.update(ns, info, &[format!("labels.{key}")])?;
        Ok(())
    }
}
