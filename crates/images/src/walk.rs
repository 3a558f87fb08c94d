//! Walking an image's content graph: which children a blob refers to, which
//! manifests of an index fit a platform, and the garbage collection labels
//! that keep children alive while their parent is referenced.

use std::collections::HashMap;

use crated_core::image::Descriptor;
use crated_core::{Error, Result};

use crate::manifest::{Index, Manifest};
use crate::media;
use crate::platform::Platform;

/// Which platforms of a multi-platform image to take.
#[derive(Debug, Clone)]
pub enum PlatformChoice {
    /// Every platform.
    All,
    /// The best match for one platform.
    One(Platform),
}

impl PlatformChoice {
    /// The host's platform.
    pub fn host() -> PlatformChoice {
        PlatformChoice::One(Platform::host())
    }
}

/// The manifests of `index` that `choice` selects. With one platform, only
/// the best match is returned (exact variant first); entries without a
/// platform are taken as matching. An index with no match is `NotFound`.
pub fn select_manifests(index: &Index, choice: &PlatformChoice) -> Result<Vec<Descriptor>> {
    match choice {
        PlatformChoice::All => Ok(index.manifests.iter().map(|d| d.to_core()).collect()),
        PlatformChoice::One(want) => {
            let best = index
                .manifests
                .iter()
                .filter(|d| media::is_manifest(&d.media_type) || media::is_index(&d.media_type))
                .filter(|d| d.platform.as_ref().is_none_or(|p| want.matches(p)))
                .min_by_key(|d| d.platform.as_ref().map(|p| want.rank(p)).unwrap_or(3));
            best.map(|d| vec![d.to_core()]).ok_or_else(|| {
                let available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect();
                Error::not_found(format!(
                    "no match for platform {want} in manifest (available: {})",
                    available.join(", ")
                ))
            })
        }
    }
}

/// The children of a blob: manifests of an index (per `choice`), config and
/// layers of a manifest, none for anything else.
pub fn children(
    desc: &Descriptor,
    bytes: &[u8],
    choice: &PlatformChoice,
) -> Result<Vec<Descriptor>> {
    if media::is_index(&desc.media_type) {
        return select_manifests(&Index::parse(bytes)?, choice);
    }
    if media::is_manifest(&desc.media_type) {
        let m = Manifest::parse(bytes)?;
        let mut out = vec![m.config.to_core()];
        out.extend(m.layers.iter().map(|l| l.to_core()));
        return Ok(out);
    }
    Ok(Vec::new())
}

/// Every child of a blob regardless of platform, for labels.
pub fn all_children(desc: &Descriptor, bytes: &[u8]) -> Result<Vec<Descriptor>> {
    children(desc, bytes, &PlatformChoice::All)
}

/// containerd's child labels: `containerd.io/gc.ref.content.m.<i>` on an
/// index for each manifest, `…config` and `…l.<i>` on a manifest.
pub fn child_labels(desc: &Descriptor, children: &[Descriptor]) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    if media::is_index(&desc.media_type) {
        for (i, c) in children.iter().enumerate() {
            labels.insert(
                format!("containerd.io/gc.ref.content.m.{i}"),
                c.digest.clone(),
            );
        }
    } else if media::is_manifest(&desc.media_type) {
        let mut layer = 0;
        for c in children {
            if media::is_config(&c.media_type) {
                labels.insert(
                    "containerd.io/gc.ref.content.config".into(),
                    c.digest.clone(),
                );
            } else {
                labels.insert(
                    format!("containerd.io/gc.ref.content.l.{layer}"),
                    c.digest.clone(),
                );
                layer += 1;
            }
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        Index::parse(br#"{"schemaVersion":2,"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v6"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm7","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:amd","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#)
        .unwrap()
    }

    #[test]
    fn picks_best_platform() {
        let one = |p: &str| {
            select_manifests(&index(), &PlatformChoice::One(Platform::parse(p).unwrap())).unwrap()
                [0]
            .digest
            .clone()
        };
        assert_eq!(one("linux/amd64"), "sha256:amd");
        assert_eq!(one("linux/arm/v7"), "sha256:arm7");
        assert_eq!(one("linux/arm/v6"), "sha256:arm");
        assert!(
            select_manifests(
                &index(),
                &PlatformChoice::One(Platform::parse("linux/s390x").unwrap())
            )
            .is_err()
        );
        assert_eq!(
            select_manifests(&index(), &PlatformChoice::All)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn labels_name_children() {
        let desc = Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            ..Default::default()
        };
        let kids = vec![
            Descriptor {
                media_type: media::OCI_CONFIG.into(),
                digest: "sha256:c".into(),
                ..Default::default()
            },
            Descriptor {
                media_type: media::OCI_LAYER_GZIP.into(),
                digest: "sha256:l".into(),
                ..Default::default()
            },
        ];
        let labels = child_labels(&desc, &kids);
        assert_eq!(labels["containerd.io/gc.ref.content.config"], "sha256:c");
        assert_eq!(labels["containerd.io/gc.ref.content.l.0"], "sha256:l");
    }
}
