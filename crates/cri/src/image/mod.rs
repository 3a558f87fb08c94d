//! The image service: pull, status, list, remove and filesystem usage
//! of images in namespace `k8s.io`, as containerd 1.7's CRI plugin
//! answers them.
//!
//! - `reference.rs`: references, ids, repo tags and digests, users, and
//!   the credentials of a pull (pure).
//! - `store.rs`: the images grouped by id, and resolving a reference or id
//!   locally.
//! - `pull.rs`: PullImage through crated's Transfer service.
//! - `legacy.rs`: the `hosts.toml` and credentials of the legacy
//!   `registry.mirrors` and `registry.configs` keys.
//! - `fs.rs`: ImageFsInfo.

mod fs;
mod legacy;
mod pull;
mod reference;
mod store;

use std::collections::HashMap;

use crated_api::cri;

pub(crate) use store::{ImageCache, LocalImage};

use crate::service::CriService;
use crate::{Error, Result};

/// The label marking an image record as managed by the CRI plugin.
pub(crate) const MANAGED_LABEL: &str = "io.cri-containerd.image";
/// Its value.
pub(crate) const MANAGED_VALUE: &str = "managed";
/// The label keeping an image from kubelet's image garbage collection.
pub(crate) const PINNED_LABEL: &str = "io.cri-containerd.pinned";
/// Its value.
pub(crate) const PINNED_VALUE: &str = "pinned";

/// The image a request's spec names (empty when none).
fn requested(spec: Option<&cri::ImageSpec>) -> &str {
    spec.map(|s| s.image.as_str()).unwrap_or_default()
}

/// `Image` of the CRI for `image`.
fn to_cri(image: &LocalImage) -> cri::Image {
    let (repo_tags, repo_digests) = reference::split_references(&image.references);
    let (uid, username) = reference::user_from_image(&image.facts.resolved.config.config.user);
    cri::Image {
        id: image.id.clone(),
        repo_tags,
        repo_digests,
        size: image.facts.size,
        uid: uid.map(|value| cri::Int64Value { value }),
        username,
        spec: Some(cri::ImageSpec {
            image: image.id.clone(),
            ..Default::default()
        }),
        pinned: image.pinned,
    }
}

impl CriService {
    /// The local image `reference` names, pulling it (anonymously) when
    /// there is none: what a pod's sandbox image is started from.
    #[allow(dead_code, reason = "called by RunPodSandbox, still to come")]
    pub(crate) async fn ensure_image(&self, reference: &str) -> Result<LocalImage> {
        match self.local_resolve(reference).await {
            Err(Error::NotFound(_)) => {
                let named = reference::normalize(reference)?;
                self.pull(&named, None).await
            }
            other => other,
        }
    }

    /// `ListImages`: every image, or the one the filter names (containerd
    /// ignores the filter; crictl and kubelet send none, or filter again).
    pub(crate) async fn list_images(
        &self,
        req: cri::ListImagesRequest,
    ) -> Result<cri::ListImagesResponse> {
        let wanted = requested(req.filter.as_ref().and_then(|f| f.image.as_ref()));
        let images = if wanted.is_empty() {
            self.local_images().await?.values().map(to_cri).collect()
        } else {
            match self.local_resolve(wanted).await {
                Ok(image) => vec![to_cri(&image)],
                Err(Error::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        Ok(cri::ListImagesResponse { images })
    }

    /// `ImageStatus`: an image that is not there is an empty answer, not
    /// an error; `verbose` adds the chain id and the image config as JSON.
    pub(crate) async fn image_status(
        &self,
        req: cri::ImageStatusRequest,
    ) -> Result<cri::ImageStatusResponse> {
        let image = match self.local_resolve(requested(req.image.as_ref())).await {
            Ok(image) => image,
            Err(Error::NotFound(_)) => return Ok(cri::ImageStatusResponse::default()),
            Err(e) => return Err(e),
        };
        let info = if req.verbose {
            self.verbose_info(&image).await?
        } else {
            HashMap::new()
        };
        Ok(cri::ImageStatusResponse {
            image: Some(to_cri(&image)),
            info,
        })
    }

    /// The `info` of a verbose ImageStatus: `{"chainID", "imageSpec"}`.
    async fn verbose_info(&self, image: &LocalImage) -> Result<HashMap<String, String>> {
        let config = &image.facts.resolved.config_descriptor.digest;
        let bytes = self
            .client()
            .await?
            .content()
            .read_blob(config)
            .await
            .map_err(Error::client(format!("reading image config {config}")))?;
        let spec: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidArgument(format!("image config {config} is not JSON: {e}"))
        })?;
        let info = serde_json::json!({ "chainID": image.chain_id(), "imageSpec": spec });
        Ok(HashMap::from([("info".to_string(), info.to_string())]))
    }

    /// `PullImage`: answers the image id (the config digest).
    pub(crate) async fn pull_image(
        &self,
        req: cri::PullImageRequest,
    ) -> Result<cri::PullImageResponse> {
        let named = reference::normalize(requested(req.image.as_ref()))?;
        let image = self.pull(&named, req.auth.as_ref()).await?;
        Ok(cri::PullImageResponse {
            image_ref: image.id,
        })
    }

    /// `RemoveImage`: every record of the image goes, the last one
    /// synchronously so its content and snapshots are collected; an image
    /// that is not there is no error.
    pub(crate) async fn remove_image(
        &self,
        req: cri::RemoveImageRequest,
    ) -> Result<cri::RemoveImageResponse> {
        let image = match self.local_resolve(requested(req.image.as_ref())).await {
            Ok(image) => image,
            Err(Error::NotFound(_)) => return Ok(cri::RemoveImageResponse::default()),
            Err(e) => return Err(e),
        };
        let images = self.client().await?.images();
        let last = image.references.len().saturating_sub(1);
        for (i, name) in image.references.iter().enumerate() {
            match images.delete(name, i == last).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(Error::client(format!(
                        "failed to delete image reference {name:?} for {}",
                        image.id
                    ))(e));
                }
            }
        }
        Ok(cri::RemoveImageResponse::default())
    }
}
