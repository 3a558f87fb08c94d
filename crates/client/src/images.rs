//! The images service, and reading an image's manifest and config from the
//! content store the way containerd's client does.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_api::services::v1::images_client::ImagesClient;
use crated_api::services::v1::{
    self as api, CreateImageRequest, DeleteImageRequest, GetImageRequest, ListImagesRequest,
    UpdateImageRequest,
};
use crated_api::types::Descriptor as ApiDescriptor;
use prost_types::FieldMask;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::client::Client;
use crate::content::Content;
use crate::convert;
use crate::error::{Error, Result};
use crate::spec::ImageConfig;

/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker manifest (schema 2).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Handle on the images service.
#[derive(Debug, Clone)]
pub struct Images {
    client: Client,
}

/// A content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type.
    #[serde(default)]
    pub media_type: String,
    /// The digest.
    pub digest: String,
    /// The size in bytes.
    #[serde(default)]
    pub size: i64,
    /// Annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The platform (entries of an index).
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// An OCI platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// CPU architecture in Go's names, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Variant, e.g. `v8`.
    #[serde(default)]
    pub variant: String,
}

impl Platform {
    /// The platform this client runs on, in Go's names.
    pub fn current() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: String::new(),
        }
    }

    /// Whether an image for `other` runs here (same OS and architecture;
    /// a variant matters only when both name one).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_empty()
                || other.variant.is_empty()
                || self.variant == other.variant)
    }

    /// `os/architecture[/variant]`, as containerd formats platforms.
    pub fn format(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }
}

impl From<ApiDescriptor> for Descriptor {
    fn from(d: ApiDescriptor) -> Self {
        Descriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            annotations: d.annotations,
            platform: None,
        }
    }
}

impl From<&Descriptor> for ApiDescriptor {
    fn from(d: &Descriptor) -> Self {
        ApiDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone(),
        }
    }
}

/// An image record: a name pointing at a manifest or index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// The name (reference), e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// The root descriptor.
    pub target: Descriptor,
    /// When created.
    pub created_at: Option<DateTime<Utc>>,
    /// When last updated.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<api::Image> for Image {
    fn from(i: api::Image) -> Self {
        Image {
            name: i.name,
            labels: i.labels,
            target: i.target.map(Descriptor::from).unwrap_or_default(),
            created_at: convert::optional_time(i.created_at.as_ref()),
            updated_at: convert::optional_time(i.updated_at.as_ref()),
        }
    }
}

impl From<&Image> for api::Image {
    fn from(i: &Image) -> Self {
        api::Image {
            name: i.name.clone(),
            labels: i.labels.clone(),
            target: Some((&i.target).into()),
            created_at: i.created_at.map(convert::timestamp),
            updated_at: i.updated_at.map(convert::timestamp),
        }
    }
}

fn required(image: Option<api::Image>, operation: &str) -> Result<Image> {
    image
        .map(Image::from)
        .ok_or_else(|| Error::protocol(format!("{operation}: the answer has no image")))
}

impl Images {
    pub(crate) fn new(client: Client) -> Self {
        Images { client }
    }

    fn grpc(&self) -> ImagesClient<tonic::transport::Channel> {
        grpc_client!(self.client, ImagesClient)
    }

    /// Image `name`.
    pub async fn get(&self, name: &str) -> Result<Image> {
        let request = self.client.unary_request(GetImageRequest {
            name: name.to_string(),
        })?;
        let response = self
            .client
            .unary("images get", self.grpc().get(request))
            .await?;
        required(response.image, "images get")
    }

    /// The images matching any of `filters`; all when empty.
    pub async fn list(&self, filters: &[String]) -> Result<Vec<Image>> {
        let request = self.client.unary_request(ListImagesRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("images list", self.grpc().list(request))
            .await?;
        Ok(response.images.into_iter().map(Image::from).collect())
    }

    /// Creates image record `image`.
    pub async fn create(&self, image: &Image) -> Result<Image> {
        let request = self.client.unary_request(CreateImageRequest {
            image: Some(image.into()),
            source_date_epoch: None,
        })?;
        let response = self
            .client
            .unary("images create", self.grpc().create(request))
            .await?;
        required(response.image, "images create")
    }

    /// Updates the fields of `image` named by `field_paths` (`labels`,
    /// `labels.<key>`, `target`); all when empty.
    pub async fn update(&self, image: &Image, field_paths: &[String]) -> Result<Image> {
        let request = self.client.unary_request(UpdateImageRequest {
            image: Some(image.into()),
            update_mask: (!field_paths.is_empty()).then(|| FieldMask {
                paths: field_paths.to_vec(),
            }),
            source_date_epoch: None,
        })?;
        let response = self
            .client
            .unary("images update", self.grpc().update(request))
            .await?;
        required(response.image, "images update")
    }

    /// Deletes image `name`; with `sync` the daemon also collects what only
    /// it held before answering.
    pub async fn delete(&self, name: &str, sync: bool) -> Result<()> {
        let request = self.client.unary_request(DeleteImageRequest {
            name: name.to_string(),
            sync,
            target: None,
        })?;
        self.client
            .unary("images delete", self.grpc().delete(request))
            .await
    }
}

/// The JSON of a manifest or an index (the fields used here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOrIndex {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The image config file (the fields used here).
#[derive(Debug, Clone, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: String,
    #[serde(default)]
    config: ImageConfig,
    #[serde(default)]
    rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// An image resolved for one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest chosen.
    pub manifest: Descriptor,
    /// The config blob's descriptor.
    pub config_descriptor: Descriptor,
    /// The runtime part of the config.
    pub config: ImageConfig,
    /// The uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// The platform the config names.
    pub platform: Platform,
}

impl Resolved {
    /// The chain id of the top layer: the name of the committed snapshot
    /// holding the unpacked image.
    pub fn chain_id(&self) -> String {
        chain_id(&self.diff_ids)
    }
}

/// The OCI chain id of `diff_ids`: the first diff id, then
/// `sha256(parent + " " + diff_id)` for each next one.
pub fn chain_id(diff_ids: &[String]) -> String {
    let mut iter = diff_ids.iter();
    let Some(first) = iter.next() else {
        return String::new();
    };
    iter.fold(first.clone(), |parent, diff| {
        let digest = Sha256::digest(format!("{parent} {diff}").as_bytes());
        format!("sha256:{}", hex::encode(digest))
    })
}

fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_LIST
}

fn is_manifest(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

async fn read_json<T: serde::de::DeserializeOwned>(
    content: &Content,
    desc: &Descriptor,
) -> Result<T> {
    let bytes = content.read_blob(&desc.digest).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "{} ({}) is not valid JSON: {e}",
            desc.digest, desc.media_type
        ))
    })
}

/// Resolves `target` (a manifest or an index) to the manifest for
/// `platform` and reads its config, following nested indexes.
pub async fn resolve(
    content: &Content,
    target: &Descriptor,
    platform: &Platform,
) -> Result<Resolved> {
    let mut desc = target.clone();
    for _ in 0..8 {
        let doc: ManifestOrIndex = read_json(content, &desc).await?;
        let media_type = if desc.media_type.is_empty() {
            doc.media_type.clone()
        } else {
            desc.media_type.clone()
        };
        if is_index(&media_type) || (!doc.manifests.is_empty() && doc.config.is_none()) {
            let chosen = doc
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_none_or(|p| platform.matches(p)))
                .ok_or_else(|| {
                    Error::Daemon(crated_core::Error::not_found(format!(
                        "no manifest for platform {} in {}",
                        platform.format(),
                        desc.digest
                    )))
                })?;
            desc = chosen.clone();
            continue;
        }
        let config_descriptor = doc.config.clone().ok_or_else(|| {
            Error::InvalidArgument(format!("manifest {} has no config", desc.digest))
        })?;
        let file: ConfigFile = read_json(content, &config_descriptor).await?;
        let image_platform = Platform {
            os: file.os,
            architecture: file.architecture,
            variant: file.variant,
        };
        return Ok(Resolved {
            manifest: desc,
            config_descriptor,
            config: file.config,
            diff_ids: file.rootfs.diff_ids,
            layers: doc.layers,
            platform: image_platform,
        });
    }
    Err(Error::InvalidArgument(format!(
        "image {} nests indexes too deeply",
        target.digest
    )))
}

/// What of an image the content store holds (`images.Check`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Whether the root and the manifests could be read.
    pub available: bool,
    /// Every blob the image needs for the platform.
    pub required: Vec<Descriptor>,
    /// The ones present.
    pub present: Vec<Descriptor>,
    /// The ones missing.
    pub missing: Vec<Descriptor>,
}

/// Walks `target` for `platform` and reports which blobs are present.
pub async fn check(content: &Content, target: &Descriptor, platform: &Platform) -> Result<Check> {
    let mut result = Check::default();
    let mut pending = vec![target.clone()];
    let mut readable = true;
    while let Some(desc) = pending.pop() {
        let present = match content.info(&desc.digest).await {
            Ok(_) => true,
            Err(err) if err.is_not_found() => false,
            Err(err) => return Err(err),
        };
        result.required.push(desc.clone());
        if !present {
            if is_index(&desc.media_type) || is_manifest(&desc.media_type) {
                readable = false;
            }
            result.missing.push(desc);
            continue;
        }
        result.present.push(desc.clone());
        if is_index(&desc.media_type) || is_manifest(&desc.media_type) {
            let doc: ManifestOrIndex = read_json(content, &desc).await?;
            for m in doc.manifests.iter().rev() {
                if m.platform.as_ref().is_none_or(|p| platform.matches(p)) {
                    pending.push(m.clone());
                }
            }
            for layer in doc.layers.iter().rev() {
                pending.push(layer.clone());
            }
            if let Some(config) = doc.config {
                pending.push(config);
            }
        }
    }
    result.available = readable;
    Ok(result)
}

/// The platforms an image is for: its index's entries, or its config's.
pub async fn platforms(content: &Content, target: &Descriptor) -> Result<Vec<Platform>> {
    if is_index(&target.media_type) {
        let doc: ManifestOrIndex = read_json(content, target).await?;
        return Ok(doc
            .manifests
            .into_iter()
            .filter_map(|m| m.platform)
            .collect());
    }
    let doc: ManifestOrIndex = read_json(content, target).await?;
    let Some(config) = doc.config else {
        return Ok(Vec::new());
    };
    let file: ConfigFile = read_json(content, &config).await?;
    Ok(vec![Platform {
        os: file.os,
        architecture: file.architecture,
        variant: file.variant,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_like_the_image_spec() {
        let a =
            "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4".to_string();
        let b =
            "sha256:ce3ba4c8bfe1c0dfcf1d4c3f3fd2acda6f1d0e0e0b3d48bf0e0d1e2a7e8e6e1a".to_string();
        assert_eq!(chain_id(&[]), "");
        assert_eq!(chain_id(std::slice::from_ref(&a)), a);
        let expected = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{a} {b}").as_bytes()))
        );
        assert_eq!(chain_id(&[a, b]), expected);
    }

    #[test]
    fn platforms_match_loosely_on_variant() {
        let here = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: String::new(),
        };
        let v8 = Platform {
            variant: "v8".into(),
            ..here.clone()
        };
        assert!(here.matches(&v8));
        assert_eq!(v8.format(), "linux/arm64/v8");
        let amd = Platform {
            architecture: "amd64".into(),
            ..here.clone()
        };
        assert!(!here.matches(&amd));
    }
}
