//! The plugin's view of the images in namespace `k8s.io`, as containerd's
//! CRI image store has it: the image records grouped by image id (the
//! config digest), each with every name that refers to it, read from
//! crated's images and content services on each request. What a root
//! digest resolves to never changes, so that is cached by digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use crated_client::images::{self, Descriptor, Platform, Resolved};
use crated_core::media;

use super::reference::{id_matches, is_image_id, normalize};
use super::{PINNED_LABEL, PINNED_VALUE};
use crate::service::CriService;
use crate::{Error, Result};

/// What an image's root digest resolves to on this host.
#[derive(Debug)]
pub(crate) struct Facts {
    /// The manifest and config for the host's platform.
    pub(crate) resolved: Resolved,
    /// The bytes of the image for this platform: root, manifest, config
    /// and layers, as containerd's `Image.Size` counts them.
    pub(crate) size: u64,
}

/// The resolved facts of root digests, shared by the plugin's requests.
#[derive(Debug, Default)]
pub(crate) struct ImageCache {
    by_digest: Mutex<HashMap<String, Arc<Facts>>>,
}

impl ImageCache {
    fn get(&self, digest: &str) -> Option<Arc<Facts>> {
        self.lock().get(digest).cloned()
    }

    fn insert(&self, digest: &str, facts: Arc<Facts>) {
        self.lock().insert(digest.to_string(), facts);
    }

    /// Drops what no image record refers to any more.
    fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|d, _| live.contains(d));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Facts>>> {
        self.by_digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One image as the CRI sees it.
#[derive(Debug, Clone)]
pub(crate) struct LocalImage {
    /// The image id: the config digest.
    pub(crate) id: String,
    /// Every record name that refers to it, sorted.
    pub(crate) references: Vec<String>,
    /// Whether garbage collection of unused images must keep it (the
    /// sandbox image, or a record labelled pinned).
    pub(crate) pinned: bool,
    /// The manifest, config and size.
    pub(crate) facts: Arc<Facts>,
}

impl LocalImage {
    /// The chain id of the top layer: the committed snapshot the image's
    /// containers start from.
    pub(crate) fn chain_id(&self) -> String {
        self.facts.resolved.chain_id()
    }
}

impl CriService {
    /// The resolved facts of `target`, from the cache or the content store.
    async fn facts(&self, target: &Descriptor) -> Result<Arc<Facts>> {
        let cache = &self.inner.images;
        if let Some(facts) = cache.get(&target.digest) {
            return Ok(facts);
        }
        let client = self.client().await?;
        let resolved = images::resolve(&client.content(), target, &Platform::host())
            .await
            .map_err(Error::client(format!("reading image {}", target.digest)))?;
        let nested = if media::is_index(&target.media_type) {
            resolved.manifest.size
        } else {
            0
        };
        let size = [target.size, nested, resolved.config_descriptor.size]
            .into_iter()
            .chain(resolved.parsed.layers.iter().map(|l| l.size))
            .map(|s| u64::try_from(s).unwrap_or(0))
            .sum();
        let facts = Arc::new(Facts { resolved, size });
        cache.insert(&target.digest, facts.clone());
        Ok(facts)
    }

    /// Every image in `k8s.io`, by image id. Records whose image cannot be
    /// read (content missing, another platform only) are left out, as
    /// containerd's CRI leaves them out of its store.
    pub(crate) async fn local_images(&self) -> Result<BTreeMap<String, LocalImage>> {
        let client = self.client().await?;
        let records = client
            .images()
            .list(&[])
            .await
            .map_err(Error::client("listing images"))?;
        let sandbox = normalize(&self.config().sandbox_image)
            .map(|r| r.to_string())
            .ok();
        let mut out: BTreeMap<String, LocalImage> = BTreeMap::new();
        let mut live = HashSet::new();
        for record in records {
            live.insert(record.target.digest.clone());
            let facts = match self.facts(&record.target).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(image = %record.name, error = %e, "image left out of the CRI's list");
                    continue;
                }
            };
            let id = facts.resolved.config_descriptor.digest.clone();
            let pinned = record.labels.get(PINNED_LABEL).map(String::as_str) == Some(PINNED_VALUE)
                || sandbox.as_deref() == Some(record.name.as_str());
            let entry = out.entry(id.clone()).or_insert_with(|| LocalImage {
                id,
                references: Vec::new(),
                pinned: false,
                facts,
            });
            entry.pinned |= pinned;
            entry.references.push(record.name);
        }
        for image in out.values_mut() {
            image.references.sort();
        }
        self.inner.images.retain(&live);
        Ok(out)
    }

    /// The image `ref_or_id` names, as containerd's CRI resolves it
    /// locally: an image id, a reference (normalised), or an id prefix.
    /// NotFound when there is none (also for an empty name, as containerd).
    pub(crate) async fn local_resolve(&self, ref_or_id: &str) -> Result<LocalImage> {
        let not_found = || Error::NotFound(format!("image {ref_or_id:?} not found"));
        if ref_or_id.is_empty() {
            return Err(not_found());
        }
        let mut all = self.local_images().await?;
        if is_image_id(ref_or_id) {
            return all.remove(ref_or_id).ok_or_else(not_found);
        }
        if let Ok(named) = normalize(ref_or_id) {
            let name = named.to_string();
            let by_name = all
                .iter()
                .find(|(_, i)| i.references.contains(&name))
                .map(|(id, _)| id.clone());
            if let Some(id) = by_name {
                return all.remove(&id).ok_or_else(not_found);
            }
        }
        let mut matching: Vec<String> = all
            .keys()
            .filter(|id| id_matches(ref_or_id, id))
            .cloned()
            .collect();
        match matching.len() {
            0 => Err(not_found()),
            1 => all.remove(&matching.swap_remove(0)).ok_or_else(not_found),
            n => Err(Error::InvalidArgument(format!(
                "image id prefix {ref_or_id:?} is ambiguous: {n} images match; give more of the id"
            ))),
        }
    }
}
