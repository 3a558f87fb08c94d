//! The images service, and reading an image's manifest and config from the
//! content store the way containerd's client does.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_api::services::v1::images_client::ImagesClient;
use crated_api::services::v1::{
    self as api, CreateImageRequest, DeleteImageRequest, GetImageRequest, ListImagesRequest,
    UpdateImageRequest,
};
/// A content descriptor (the one model, `crated_core`'s).
pub use crated_core::image::Descriptor;
/// Media types, from the one table in `crated_core::media`.
pub use crated_core::media::{
    DOCKER_CONFIG as MEDIA_TYPE_DOCKER_CONFIG, DOCKER_MANIFEST as MEDIA_TYPE_DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST as MEDIA_TYPE_DOCKER_LIST, OCI_CONFIG as MEDIA_TYPE_OCI_CONFIG,
    OCI_INDEX as MEDIA_TYPE_OCI_INDEX, OCI_MANIFEST as MEDIA_TYPE_OCI_MANIFEST,
};
/// An OCI platform (the one model, `crated_images`'s).
pub use crated_images::Platform;
use crated_images::pipeline;
/// An image resolved for one platform (the pipeline's).
pub use crated_images::pipeline::Resolved;
use crated_images::{ImageConfig, Index, Manifest, media};
use prost_types::FieldMask;

use crate::client::Client;
use crate::content::Content;
use crate::convert;
use crate::diff::{descriptor_from_api, descriptor_to_api};
use crate::error::{Error, Result};

/// Handle on the images service.
#[derive(Debug, Clone)]
pub struct Images {
    client: Client,
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
            target: i.target.map(descriptor_from_api).unwrap_or_default(),
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
            target: Some(descriptor_to_api(&i.target)),
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

/// Resolves `target` (a manifest or an index) to the manifest for
/// `platform` and reads its config, following nested indexes (the
/// pipeline's resolve, bounded in document size and nesting depth).
pub async fn resolve(
    content: &Content,
    target: &Descriptor,
    platform: &Platform,
) -> Result<Resolved> {
    Ok(pipeline::resolve(content, target, platform).await?)
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
            if media::is_index(&desc.media_type) || media::is_manifest(&desc.media_type) {
                readable = false;
            }
            result.missing.push(desc);
            continue;
        }
        result.present.push(desc.clone());
        if media::is_index(&desc.media_type) {
            let index = Index::parse(&pipeline::read_document(content, &desc).await?)?;
            for m in index.manifests.iter().rev() {
                if m.platform.as_ref().is_none_or(|p| platform.matches(p)) {
                    pending.push(m.to_core());
                }
            }
        } else if media::is_manifest(&desc.media_type) {
            let manifest = Manifest::parse(&pipeline::read_document(content, &desc).await?)?;
            pending.extend(manifest.layers.iter().rev().map(|l| l.to_core()));
            pending.push(manifest.config.to_core());
        }
    }
    result.available = readable;
    Ok(result)
}

/// The platforms an image is for: its index's entries, or its config's.
pub async fn platforms(content: &Content, target: &Descriptor) -> Result<Vec<Platform>> {
    let bytes = pipeline::read_document(content, target).await?;
    if media::is_index(&target.media_type) {
        return Ok(Index::parse(&bytes)?
            .manifests
            .into_iter()
            .filter_map(|m| m.platform)
            .collect());
    }
    let manifest = Manifest::parse(&bytes)?;
    let config =
        ImageConfig::parse(&pipeline::read_document(content, &manifest.config.to_core()).await?)?;
    Ok(vec![config.platform()])
}
