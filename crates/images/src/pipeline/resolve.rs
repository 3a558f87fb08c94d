//! Resolving an image: following an index (nested ones too, to a bounded
//! depth) to the manifest for a platform, and reading its config, with
//! every document bounded in size.

use std::collections::HashMap;

use async_trait::async_trait;
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use serde::Deserialize;

use crate::chain;
use crate::manifest::{ImageConfig, Index, Manifest};
use crate::media;
use crate::platform::Platform;
use crate::walk::{self, PlatformChoice};

/// The largest index, manifest or config read into memory: containerd's
/// `MaxManifestSize` (its `4 * 1048 * 1048`, kept as it is).
pub const MAX_DOCUMENT: u64 = 4 * 1048 * 1048;

/// How many indexes may nest above a manifest. Real images use one (an
/// index of manifests), sometimes two.
pub const MAX_INDEX_DEPTH: usize = 8;

/// Where the pipeline reads image documents from and labels them: the
/// daemon's namespaced content store, the content service over gRPC, or a
/// registry fetch that stores what it reads.
#[async_trait]
pub trait ContentSource: Send + Sync {
    /// The whole blob `desc`; a blob over `limit` bytes is
    /// `ResourceExhausted`, found out without reading it all.
    async fn read(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>>;

    /// Adds (or replaces) `labels` on blob `digest`.
    async fn add_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<()>;
}

/// The error for a document over [`MAX_DOCUMENT`].
pub(crate) fn too_large(digest: &str, size: u64) -> Error {
    Error::new(
        ErrorKind::ResourceExhausted,
        format!(
            "{digest} is {size} bytes, over the {MAX_DOCUMENT}-byte limit for an image index, manifest or config"
        ),
    )
}

/// Reads document `desc` (an index, manifest or config) through `source`,
/// refusing one over [`MAX_DOCUMENT`] by its declared size before reading
/// and by its real size while reading.
pub async fn read_document(source: &dyn ContentSource, desc: &Descriptor) -> Result<Vec<u8>> {
    if u64::try_from(desc.size).is_ok_and(|s| s > MAX_DOCUMENT) {
        return Err(too_large(&desc.digest, desc.size as u64));
    }
    source.read(desc, MAX_DOCUMENT).await
}

/// Fails when an index at `depth` (the root's depth is 0) under image
/// `root` is deeper than [`MAX_INDEX_DEPTH`] allows.
pub fn check_depth(root: &Descriptor, depth: usize) -> Result<()> {
    if depth >= MAX_INDEX_DEPTH {
        return Err(Error::invalid_argument(format!(
            "image {} nests indexes more than {MAX_INDEX_DEPTH} deep",
            root.digest
        )));
    }
    Ok(())
}

/// An image resolved for one platform: its manifest and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest chosen.
    pub manifest: Descriptor,
    /// The parsed manifest.
    pub parsed: Manifest,
    /// The config blob's descriptor.
    pub config_descriptor: Descriptor,
    /// The parsed config.
    pub config: ImageConfig,
}

impl Resolved {
    /// The chain ids of the layers, base first.
    pub fn chain_ids(&self) -> Vec<String> {
        chain::chain_ids(&self.config.rootfs.diff_ids)
    }

    /// The chain id of the top layer: the committed snapshot holding the
    /// unpacked image (empty for an image without layers).
    pub fn chain_id(&self) -> String {
        self.chain_ids().pop().unwrap_or_default()
    }

    /// The platform the config names.
    pub fn platform(&self) -> Platform {
        self.config.platform()
    }

    /// The layers, base first.
    pub fn layers(&self) -> Vec<Descriptor> {
        self.parsed.layers.iter().map(|l| l.to_core()).collect()
    }
}

/// The fields that tell an index from a manifest when a descriptor does
/// not name its media type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sniff {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// The media type of `desc`, read from the document when the descriptor
/// has none.
fn media_type_of(desc: &Descriptor, bytes: &[u8]) -> String {
    if !desc.media_type.is_empty() {
        return desc.media_type.clone();
    }
    match serde_json::from_slice::<Sniff>(bytes) {
        Ok(s) if !s.media_type.is_empty() => s.media_type,
        Ok(s) if s.manifests.is_some() && s.config.is_none() => media::OCI_INDEX.to_string(),
        Ok(s) if s.config.is_some() => media::OCI_MANIFEST.to_string(),
        _ => String::new(),
    }
}

/// Parses manifest `desc` and reads its config, checking that the config
/// lists a diff id per layer.
async fn manifest_and_config(
    source: &dyn ContentSource,
    desc: Descriptor,
    bytes: &[u8],
) -> Result<Resolved> {
    let parsed = Manifest::parse(bytes).map_err(|e| e.context(&desc.digest))?;
    let config_descriptor = parsed.config.to_core();
    let config = ImageConfig::parse(&read_document(source, &config_descriptor).await?)
        .map_err(|e| e.context(&config_descriptor.digest))?;
    if config.rootfs.diff_ids.len() != parsed.layers.len() {
        return Err(Error::invalid_argument(format!(
            "image config {} lists {} layers but manifest {} has {}",
            config_descriptor.digest,
            config.rootfs.diff_ids.len(),
            desc.digest,
            parsed.layers.len()
        )));
    }
    Ok(Resolved {
        manifest: desc,
        parsed,
        config_descriptor,
        config,
    })
}

/// Resolves `target` (an index or a manifest) to the manifest for
/// `platform` and reads its config, following nested indexes at most
/// [`MAX_INDEX_DEPTH`] deep.
pub async fn resolve(
    source: &dyn ContentSource,
    target: &Descriptor,
    platform: &Platform,
) -> Result<Resolved> {
    let choice = PlatformChoice::One(platform.normalized());
    let mut all = resolve_all(source, target, std::slice::from_ref(&choice)).await?;
    // resolve_all returns at least one image for one platform, or fails.
    all.pop().ok_or_else(|| {
        Error::not_found(format!(
            "no manifest for platform {platform} in {}",
            target.digest
        ))
    })
}

/// Resolves `target` for each of `choices`: every manifest they select
/// (all of them for [`PlatformChoice::All`], the best match for one
/// platform), each once, in the order found.
pub async fn resolve_all(
    source: &dyn ContentSource,
    target: &Descriptor,
    choices: &[PlatformChoice],
) -> Result<Vec<Resolved>> {
    let mut out: Vec<Resolved> = Vec::new();
    // Depth-first: (descriptor, depth, the choice that led here).
    let mut pending: Vec<(Descriptor, usize, usize)> = (0..choices.len())
        .rev()
        .map(|c| (target.clone(), 0, c))
        .collect();
    let mut documents: HashMap<String, Vec<u8>> = HashMap::new();
    while let Some((desc, depth, c)) = pending.pop() {
        if out.iter().any(|r| r.manifest.digest == desc.digest) {
            continue;
        }
        if !documents.contains_key(&desc.digest) {
            let bytes = read_document(source, &desc).await?;
            documents.insert(desc.digest.clone(), bytes);
        }
        let bytes = &documents[&desc.digest];
        let media_type = media_type_of(&desc, bytes);
        if media::is_index(&media_type) {
            check_depth(target, depth)?;
            let index = Index::parse(bytes).map_err(|e| e.context(&desc.digest))?;
            let children = walk::select_manifests(&index, &choices[c])
                .map_err(|e| e.context(format!("image index {}", desc.digest)))?;
            pending.extend(children.into_iter().rev().map(|d| (d, depth + 1, c)));
            continue;
        }
        if !media::is_manifest(&media_type) {
            return Err(Error::not_found(format!(
                "unexpected media type {media_type:?} for {}: not an image index or manifest",
                desc.digest
            )));
        }
        let desc = Descriptor { media_type, ..desc };
        let bytes = documents[&desc.digest].clone();
        out.push(manifest_and_config(source, desc, &bytes).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{MemContent, block_on, image};

    #[test]
    fn resolves_an_index_for_the_host() {
        let mem = MemContent::default();
        let (index, manifest) = image(&mem, 2);
        let r = block_on(resolve(&mem, &index, &Platform::host())).unwrap();
        assert_eq!(r.manifest.digest, manifest.digest);
        assert_eq!(r.chain_ids().len(), 2);
        assert_eq!(r.layers().len(), 2);
    }

    #[test]
    fn a_manifest_without_media_type_is_sniffed() {
        let mem = MemContent::default();
        let (_, manifest) = image(&mem, 1);
        let bare = Descriptor {
            media_type: String::new(),
            ..manifest.clone()
        };
        let r = block_on(resolve(&mem, &bare, &Platform::host())).unwrap();
        assert_eq!(r.manifest.media_type, media::OCI_MANIFEST);
    }

    #[test]
    fn an_oversized_manifest_is_refused_before_it_is_read() {
        let mem = MemContent::default();
        // A 100 MB manifest: refused by its declared size, unread.
        let huge = Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "e".repeat(64)),
            size: 100 << 20,
            annotations: HashMap::new(),
        };
        let err = block_on(resolve(&mem, &huge, &Platform::host())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResourceExhausted, "{err}");
        assert_eq!(mem.reads(), 0);
        // One that lies about its size is cut off while reading.
        let lying = mem.put(
            media::OCI_MANIFEST,
            &vec![b' '; (MAX_DOCUMENT + 1) as usize],
        );
        let lying = Descriptor { size: 10, ..lying };
        let err = block_on(resolve(&mem, &lying, &Platform::host())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResourceExhausted, "{err}");
    }

    #[test]
    fn deeply_nested_indexes_are_refused() {
        let mem = MemContent::default();
        let (mut top, _) = image(&mem, 1);
        for _ in 0..3000 {
            let body = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": [{"mediaType": media::OCI_INDEX, "digest": top.digest, "size": top.size}],
            });
            top = mem.put(media::OCI_INDEX, body.to_string().as_bytes());
        }
        let err = block_on(resolve(&mem, &top, &Platform::host())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains("nests indexes"), "{err}");
        assert!(mem.reads() <= MAX_INDEX_DEPTH + 1, "{} reads", mem.reads());
    }

    #[test]
    fn all_platforms_and_a_missing_one() {
        let mem = MemContent::default();
        let (index, _) = image(&mem, 1);
        let all = block_on(resolve_all(&mem, &index, &[PlatformChoice::All])).unwrap();
        assert_eq!(all.len(), 1);
        let s390 = Platform::parse("linux/s390x").unwrap();
        let err = block_on(resolve(&mem, &index, &s390)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
}
