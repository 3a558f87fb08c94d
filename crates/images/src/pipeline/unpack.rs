//! Unpacking an image's layers into a snapshotter, as containerd's
//! `core/unpack` does: each layer is applied onto a snapshot prepared on
//! its parent's chain id and committed under its own chain id, reusing
//! chains that exist; the diff id the applier computes must be the one
//! the config names; the config is then labelled with the top chain id
//! so garbage collection keeps the snapshots while the image lives.

use std::collections::HashMap;

use async_trait::async_trait;
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};

use super::resolve::{ContentSource, Resolved};

/// The label a prepared layer snapshot carries with its chain id.
pub const SNAPSHOT_REF_LABEL: &str = "containerd.io/snapshot.ref";

/// How often a prepare is retried when its key exists but the chain id
/// does not (containerd tries three times).
const PREPARE_ATTEMPTS: usize = 3;

/// The label on an image config naming its unpacked top snapshot in
/// `snapshotter`: `containerd.io/gc.ref.snapshot.<snapshotter>`.
pub fn gc_snapshot_label(snapshotter: &str) -> String {
    format!("containerd.io/gc.ref.snapshot.{snapshotter}")
}

/// containerd's key of a snapshot a layer is extracted into:
/// `extract-<unique> <chain id>`.
pub fn extract_key(chain_id: &str) -> String {
    format!(
        "extract-{} {chain_id}",
        crated_core::identifiers::generate_id()
    )
}

/// A snapshotter and an applier, as the unpack needs them.
#[async_trait]
pub trait LayerTarget: Send + Sync {
    /// The mounts `prepare` returns and `apply` writes into.
    type Mounts: Send;

    /// Whether snapshot `key` exists.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// Prepares active snapshot `key` on `parent` (empty for none).
    async fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Self::Mounts>;

    /// Applies `layer` onto `mounts`; returns the diff id (the digest of
    /// the uncompressed stream).
    async fn apply(&self, layer: &Descriptor, mounts: Self::Mounts) -> Result<String>;

    /// Commits active snapshot `key` as `name`.
    async fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()>;

    /// Removes snapshot `key`.
    async fn remove(&self, key: &str) -> Result<()>;
}

/// What an unpack waits for and reports, layer by layer.
#[async_trait]
pub trait LayerGate: Send {
    /// Returns once layer `i`'s blob is in the content store (a pull that
    /// unpacks while downloading waits here); an error stops the unpack.
    async fn ready(&mut self, i: usize, layer: &Descriptor) -> Result<()>;

    /// Layer `layer` is about to be unpacked (or found unpacked).
    async fn unpacking(&mut self, _layer: &Descriptor) {}

    /// Layer `layer` is in the snapshotter.
    async fn unpacked(&mut self, _layer: &Descriptor) {}
}

/// A gate for content that is all present already.
pub struct Ready;

#[async_trait]
impl LayerGate for Ready {
    async fn ready(&mut self, _: usize, _: &Descriptor) -> Result<()> {
        Ok(())
    }
}

/// The result of an unpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The manifest that was unpacked.
    pub manifest: Descriptor,
    /// The chain id of the top layer (empty for an image without layers).
    pub chain_id: String,
    /// How many layers were applied (the others existed already).
    pub applied: usize,
}

/// Unpacks layer `i` of `image` on top of the chain below it unless its
/// chain id exists; returns whether it was applied here.
pub async fn unpack_layer<T: LayerTarget + ?Sized>(
    target: &T,
    image: &Resolved,
    i: usize,
) -> Result<bool> {
    let chain = image.chain_ids();
    let id = &chain[i];
    if target.exists(id).await? {
        return Ok(false);
    }
    let parent = if i == 0 { "" } else { chain[i - 1].as_str() };
    let labels = HashMap::from([(SNAPSHOT_REF_LABEL.to_string(), id.clone())]);
    let layer = image.parsed.layers[i].to_core();
    let failed = |e: Error| {
        e.context(format!(
            "unpacking layer {} of {}",
            layer.digest, image.manifest.digest
        ))
    };
    let mut prepared = None;
    for _ in 0..PREPARE_ATTEMPTS {
        let key = extract_key(id);
        match target.prepare(&key, parent, labels.clone()).await {
            Ok(mounts) => {
                prepared = Some((key, mounts));
                break;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if target.exists(id).await? {
                    // Another unpack committed this chain meanwhile.
                    return Ok(false);
                }
                tracing::debug!(key, chain_id = %id, "extraction snapshot exists, chain id does not; retrying");
            }
            Err(e) => return Err(failed(e)),
        }
    }
    let (key, mounts) = prepared.ok_or_else(|| {
        failed(Error::new(
            ErrorKind::AlreadyExists,
            format!("unable to prepare an extraction snapshot for {id}"),
        ))
    })?;
    let outcome = async {
        let diff_id = target.apply(&layer, mounts).await?;
        let want = &image.config.rootfs.diff_ids[i];
        if &diff_id != want {
            return Err(Error::failed_precondition(format!(
                "wrong diff id calculated on extraction: layer {} unpacked to {diff_id}, but the image config expects {want}",
                layer.digest
            )));
        }
        target.commit(id, &key, labels).await
    }
    .await;
    match outcome {
        Ok(()) => Ok(true),
        Err(e) => {
            if let Err(removing) = target.remove(&key).await {
                tracing::warn!(key, error = %removing, "removing a failed extraction snapshot");
            }
            if e.kind() == ErrorKind::AlreadyExists {
                return Ok(false);
            }
            Err(failed(e))
        }
    }
}

/// Unpacks every layer of `image` into `target` in order, waiting on
/// `gate` for each layer's blob, then labels the config in `content` with
/// the top chain id for `snapshotter`.
pub async fn unpack<T: LayerTarget + ?Sized>(
    content: &dyn ContentSource,
    target: &T,
    snapshotter: &str,
    image: &Resolved,
    gate: &mut dyn LayerGate,
) -> Result<Unpacked> {
    let mut applied = 0;
    for (i, layer) in image.layers().iter().enumerate() {
        gate.ready(i, layer).await?;
        gate.unpacking(layer).await;
        if unpack_layer(target, image, i).await? {
            applied += 1;
        }
        gate.unpacked(layer).await;
    }
    let chain_id = image.chain_id();
    label_config(content, snapshotter, image, &chain_id).await?;
    Ok(Unpacked {
        manifest: image.manifest.clone(),
        chain_id,
        applied,
    })
}

/// Sets `containerd.io/gc.ref.snapshot.<snapshotter>` = `top` on the
/// image's config blob (nothing for an image without layers).
pub async fn label_config(
    content: &dyn ContentSource,
    snapshotter: &str,
    image: &Resolved,
    top: &str,
) -> Result<()> {
    if top.is_empty() {
        return Ok(());
    }
    let labels = HashMap::from([(gc_snapshot_label(snapshotter), top.to_string())]);
    content
        .add_labels(&image.config_descriptor.digest, labels)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::resolve;
    use crate::platform::Platform;
    use crate::test_support::{MemContent, MemSnapshots, block_on, image};

    #[test]
    fn unpacks_each_layer_once_and_labels_the_config() {
        let mem = MemContent::default();
        let (index, _) = image(&mem, 3);
        let r = block_on(resolve(&mem, &index, &Platform::host())).unwrap();
        let snaps = MemSnapshots::default();
        let done = block_on(unpack(&mem, &snaps, "overlayfs", &r, &mut Ready)).unwrap();
        assert_eq!(done.applied, 3);
        assert_eq!(done.chain_id, r.chain_id());
        assert!(snaps.committed().contains(&r.chain_id()));
        assert_eq!(
            mem.labels(&r.config_descriptor.digest)[&gc_snapshot_label("overlayfs")],
            r.chain_id()
        );
        // A second unpack reuses every chain.
        let again = block_on(unpack(&mem, &snaps, "overlayfs", &r, &mut Ready)).unwrap();
        assert_eq!(again.applied, 0);
        assert!(snaps.active().is_empty());
    }

    #[test]
    fn a_wrong_diff_id_fails_and_leaves_no_active_snapshot() {
        let mem = MemContent::default();
        let (index, _) = image(&mem, 1);
        let r = block_on(resolve(&mem, &index, &Platform::host())).unwrap();
        let snaps = MemSnapshots {
            wrong_diff: true,
            ..Default::default()
        };
        let err = block_on(unpack(&mem, &snaps, "native", &r, &mut Ready)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
        assert!(snaps.active().is_empty());
        assert!(snaps.committed().is_empty());
    }

    #[test]
    fn a_commit_that_lost_the_race_counts_as_done() {
        let mem = MemContent::default();
        let (index, _) = image(&mem, 1);
        let r = block_on(resolve(&mem, &index, &Platform::host())).unwrap();
        let snaps = MemSnapshots {
            commit_races: true,
            ..Default::default()
        };
        let done = block_on(unpack(&mem, &snaps, "native", &r, &mut Ready)).unwrap();
        assert_eq!(done.applied, 0);
        assert!(snaps.active().is_empty());
    }

    #[test]
    fn extract_keys_are_containerds_format() {
        let key = extract_key("sha256:abc");
        assert!(key.starts_with("extract-"), "{key}");
        assert!(key.ends_with(" sha256:abc"), "{key}");
        assert_ne!(key, extract_key("sha256:abc"));
    }
}
