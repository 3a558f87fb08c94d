//! The content store: committed blobs (info, labels, reading, deleting)
//! and ingests (writes in progress).

mod write;

use std::collections::HashMap;
use std::pin::Pin;

use crated_api::services::v1::content_client::ContentClient;
use crated_api::services::v1::{
    self as api, AbortRequest, DeleteContentRequest, InfoRequest, ListContentRequest,
    ListStatusesRequest, ReadContentRequest, StatusRequest, UpdateRequest,
};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost_types::FieldMask;

pub use crated_core::content::{Info, Status};
pub use write::{WriteOutcome, WriteRequest};

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// A stream of chunks of a blob, in order.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

/// A stream of blob infos.
pub type InfoStream = Pin<Box<dyn Stream<Item = Result<Info>> + Send>>;

/// Handle on the content store, in one namespace.
#[derive(Debug, Clone)]
pub struct Content {
    client: Client,
}

impl Content {
    pub(crate) fn new(client: Client) -> Self {
        Content { client }
    }

    pub(crate) fn grpc(&self) -> ContentClient<tonic::transport::Channel> {
        grpc_client!(self.client, ContentClient)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// What the store knows about blob `digest`.
    pub async fn info(&self, digest: &str) -> Result<Info> {
        let request = self.client.unary_request(InfoRequest {
            digest: digest.to_string(),
        })?;
        let response = self
            .client
            .unary("content info", self.grpc().info(request))
            .await?;
        info_or_protocol(response.info, "info")
    }

    /// Updates blob `digest`: each of `paths` (`labels.<key>`, or `labels`
    /// for all of them) is taken from `labels`; a label named in `paths` but
    /// absent from `labels` is removed. Returns the updated info.
    pub async fn update(
        &self,
        digest: &str,
        labels: HashMap<String, String>,
        paths: Vec<String>,
    ) -> Result<Info> {
        let request = self.client.unary_request(UpdateRequest {
            info: Some(api::Info {
                digest: digest.to_string(),
                labels,
                ..Default::default()
            }),
            update_mask: Some(FieldMask { paths }),
        })?;
        let response = self
            .client
            .unary("content update", self.grpc().update(request))
            .await?;
        info_or_protocol(response.info, "update")
    }

    /// Streams the blobs matching any of `filters` (containerd filter
    /// syntax, e.g. `labels."containerd.io/gc.root"`); all when empty.
    pub async fn list_stream(&self, filters: &[String]) -> Result<InfoStream> {
        let request = self.client.request(ListContentRequest {
            filters: filters.to_vec(),
        })?;
        let mut grpc = self.grpc();
        let response = self
            .client
            .within_timeout("content list", grpc.list(request))
            .await?;
        let client = self.client.clone();
        let infos = response
            .into_inner()
            .map_err(move |status| client.status_error(status))
            .map_ok(|batch| stream::iter(batch.info.into_iter().map(|i| Ok(info_from_api(i)))))
            .try_flatten();
        Ok(infos.boxed())
    }

    /// The blobs matching any of `filters`; all when empty.
    pub async fn list(&self, filters: &[String]) -> Result<Vec<Info>> {
        self.list_stream(filters).await?.try_collect().await
    }

    /// Deletes blob `digest` from this namespace (the bytes go when no
    /// namespace references them).
    pub async fn delete(&self, digest: &str) -> Result<()> {
        let request = self.client.unary_request(DeleteContentRequest {
            digest: digest.to_string(),
        })?;
        self.client
            .unary("content delete", self.grpc().delete(request))
            .await
    }

    /// Streams `size` bytes of blob `digest` from `offset`; `size` 0 reads
    /// to the end.
    pub async fn read(&self, digest: &str, offset: i64, size: i64) -> Result<ByteStream> {
        let request = self.client.request(ReadContentRequest {
            digest: digest.to_string(),
            offset,
            size,
        })?;
        let mut grpc = self.grpc();
        let response = self
            .client
            .within_timeout("content read", grpc.read(request))
            .await?;
        let client = self.client.clone();
        let chunks = response
            .into_inner()
            .map_ok(|chunk| chunk.data)
            .map_err(move |status| client.status_error(status));
        Ok(chunks.boxed())
    }

    /// Reads all of blob `digest` into memory. Meant for small blobs such as
    /// manifests and configs.
    pub async fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let mut chunks = self.read(digest, 0, 0).await?;
        let mut data = Vec::new();
        while let Some(chunk) = chunks.next().await {
            data.extend_from_slice(&chunk?);
        }
        Ok(data)
    }

    /// The state of the ingest `reference`.
    pub async fn status(&self, reference: &str) -> Result<Status> {
        let request = self.client.unary_request(StatusRequest {
            r#ref: reference.to_string(),
        })?;
        let response = self
            .client
            .unary("content status", self.grpc().status(request))
            .await?;
        response
            .status
            .map(status_from_api)
            .ok_or_else(|| Error::protocol("content status: the answer has no status"))
    }

    /// The ingests in progress matching any of `filters`; all when empty.
    pub async fn list_statuses(&self, filters: &[String]) -> Result<Vec<Status>> {
        let request = self.client.unary_request(ListStatusesRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("content list statuses", self.grpc().list_statuses(request))
            .await?;
        Ok(response.statuses.into_iter().map(status_from_api).collect())
    }

    /// Abandons the ingest `reference` and drops its data.
    pub async fn abort(&self, reference: &str) -> Result<()> {
        let request = self.client.unary_request(AbortRequest {
            r#ref: reference.to_string(),
        })?;
        self.client
            .unary("content abort", self.grpc().abort(request))
            .await
    }
}

fn info_or_protocol(info: Option<api::Info>, call: &str) -> Result<Info> {
    info.map(info_from_api)
        .ok_or_else(|| Error::protocol(format!("content {call}: the answer has no info")))
}

fn info_from_api(info: api::Info) -> Info {
    let created_at = convert::time(info.created_at.as_ref());
    Info {
        digest: info.digest,
        size: info.size,
        created_at,
        updated_at: convert::optional_time(info.updated_at.as_ref()).unwrap_or(created_at),
        labels: info.labels,
    }
}

fn status_from_api(status: api::Status) -> Status {
    Status {
        reference: status.r#ref,
        offset: status.offset,
        total: status.total,
        expected: status.expected,
        started_at: convert::time(status.started_at.as_ref()),
        updated_at: convert::time(status.updated_at.as_ref()),
    }
}
