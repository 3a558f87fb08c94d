//! The diff service (`containerd.services.diff.v1.Diff`): apply a layer
//! onto a snapshot's mounts, and turn the difference between two sets of
//! mounts into a layer in the content store.

use std::collections::HashMap;

use crated_api::services::v1::diff_client::DiffClient;
use crated_api::services::v1::{ApplyRequest, DiffRequest};
use crated_api::types::{Descriptor as ApiDescriptor, Mount};
use crated_core::image::Descriptor;

use crate::client::Client;
use crate::error::{Error, Result};

/// The label a diff's blob carries with its uncompressed digest.
pub const UNCOMPRESSED_LABEL: &str = "containerd.io/uncompressed";

/// Handle on the diff service.
#[derive(Debug, Clone)]
pub struct Diff {
    client: Client,
}

/// What [`Diff::compare`] produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// The layer media type; the daemon's default (gzip tar) when empty.
    pub media_type: String,
    /// The content ingest ref; the daemon makes one up when empty.
    pub reference: String,
    /// Labels of the new blob.
    pub labels: HashMap<String, String>,
}

pub(crate) fn descriptor_to_api(d: &Descriptor) -> ApiDescriptor {
    ApiDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: d.annotations.clone(),
    }
}

pub(crate) fn descriptor_from_api(d: ApiDescriptor) -> Descriptor {
    Descriptor {
        media_type: d.media_type,
        digest: d.digest,
        size: d.size,
        annotations: d.annotations,
    }
}

impl Diff {
    /// The diff service on `client`'s connection and namespace.
    pub fn new(client: &Client) -> Diff {
        Diff {
            client: client.clone(),
        }
    }

    fn grpc(&self) -> DiffClient<tonic::transport::Channel> {
        grpc_client!(self.client, DiffClient)
    }

    /// Applies layer `layer` (a blob of the content store) onto `mounts`
    /// and returns the uncompressed layer's descriptor (its digest is the
    /// diff id).
    pub async fn apply(&self, layer: &Descriptor, mounts: Vec<Mount>) -> Result<Descriptor> {
        let request = self.client.request(ApplyRequest {
            diff: Some(descriptor_to_api(layer)),
            mounts,
            payloads: HashMap::new(),
            sync_fs: false,
        })?;
        let response = self
            .client
            .within_timeout("diff apply", self.grpc().apply(request))
            .await?
            .into_inner();
        response
            .applied
            .map(descriptor_from_api)
            .ok_or_else(|| Error::protocol("diff apply: the answer has no descriptor"))
    }

    /// Writes the changes from `lower` to `upper` as a layer into the
    /// content store and returns its descriptor.
    pub async fn compare(
        &self,
        lower: Vec<Mount>,
        upper: Vec<Mount>,
        options: &CompareOptions,
    ) -> Result<Descriptor> {
        let request = self.client.request(DiffRequest {
            left: lower,
            right: upper,
            media_type: options.media_type.clone(),
            r#ref: options.reference.clone(),
            labels: options.labels.clone(),
            source_date_epoch: None,
        })?;
        let response = self
            .client
            .within_timeout("diff compare", self.grpc().diff(request))
            .await?
            .into_inner();
        response
            .diff
            .map(descriptor_from_api)
            .ok_or_else(|| Error::protocol("diff compare: the answer has no descriptor"))
    }
}
