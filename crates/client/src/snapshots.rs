//! The snapshots service, one snapshotter at a time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_api::services::v1::snapshots::snapshots_client::SnapshotsClient;
use crated_api::services::v1::snapshots::{
    self as api, CommitSnapshotRequest, ListSnapshotsRequest, MountsRequest,
    PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest, ViewSnapshotRequest,
};
use crated_api::types::Mount;
use futures::StreamExt;

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// The snapshotter crated and containerd use when none is named.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// Handle on one snapshotter of the snapshots service.
#[derive(Debug, Clone)]
pub struct Snapshots {
    client: Client,
    snapshotter: String,
}

/// What kind of snapshot (the one model, `crated_core`'s).
pub use crated_core::snapshot::Kind;

/// A snapshot's information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The key or name.
    pub name: String,
    /// The parent's name; empty for none.
    pub parent: String,
    /// The kind.
    pub kind: Kind,
    /// When created.
    pub created_at: Option<DateTime<Utc>>,
    /// When last updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Labels.
    pub labels: HashMap<String, String>,
}

impl From<api::Info> for Info {
    fn from(i: api::Info) -> Self {
        let kind = match api::Kind::try_from(i.kind) {
            Ok(api::Kind::View) => Kind::View,
            Ok(api::Kind::Active) => Kind::Active,
            Ok(api::Kind::Committed) => Kind::Committed,
            _ => Kind::Unknown,
        };
        Info {
            name: i.name,
            parent: i.parent,
            kind,
            created_at: convert::optional_time(i.created_at.as_ref()),
            updated_at: convert::optional_time(i.updated_at.as_ref()),
            labels: i.labels,
        }
    }
}

impl Snapshots {
    pub(crate) fn new(client: Client, snapshotter: String) -> Self {
        Snapshots {
            client,
            snapshotter,
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn grpc(&self) -> SnapshotsClient<tonic::transport::Channel> {
        grpc_client!(self.client, SnapshotsClient)
    }

    /// The snapshotter this handle works with.
    pub fn snapshotter(&self) -> &str {
        &self.snapshotter
    }

    /// Creates writable snapshot `key` on `parent` (empty for none) and
    /// returns its mounts.
    pub async fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let request = self.client.unary_request(PrepareSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
            parent: parent.to_string(),
            labels,
        })?;
        let response = self
            .client
            .unary("snapshots prepare", self.grpc().prepare(request))
            .await?;
        Ok(response.mounts)
    }

    /// Creates read-only view `key` of `parent` and returns its mounts.
    pub async fn view(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let request = self.client.unary_request(ViewSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
            parent: parent.to_string(),
            labels,
        })?;
        let response = self
            .client
            .unary("snapshots view", self.grpc().view(request))
            .await?;
        Ok(response.mounts)
    }

    /// The mounts of snapshot `key`.
    pub async fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let request = self.client.unary_request(MountsRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
        })?;
        let response = self
            .client
            .unary("snapshots mounts", self.grpc().mounts(request))
            .await?;
        Ok(response.mounts)
    }

    /// Commits active snapshot `key` as `name`.
    pub async fn commit(
        &self,
        name: &str,
        key: &str,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let request = self.client.unary_request(CommitSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            name: name.to_string(),
            key: key.to_string(),
            labels,
        })?;
        self.client
            .unary("snapshots commit", self.grpc().commit(request))
            .await
    }

    /// Removes snapshot `key`.
    pub async fn remove(&self, key: &str) -> Result<()> {
        let request = self.client.unary_request(RemoveSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
        })?;
        self.client
            .unary("snapshots remove", self.grpc().remove(request))
            .await
    }

    /// Snapshot `key`'s information.
    pub async fn stat(&self, key: &str) -> Result<Info> {
        let request = self.client.unary_request(StatSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
        })?;
        let response = self
            .client
            .unary("snapshots stat", self.grpc().stat(request))
            .await?;
        response
            .info
            .map(Info::from)
            .ok_or_else(|| Error::protocol("snapshots stat: the answer has no info"))
    }

    /// The snapshots matching any of `filters`; all when empty.
    pub async fn list(&self, filters: &[String]) -> Result<Vec<Info>> {
        let request = self.client.request(ListSnapshotsRequest {
            snapshotter: self.snapshotter.clone(),
            filters: filters.to_vec(),
        })?;
        let mut stream = self
            .client
            .within_timeout("snapshots list", self.grpc().list(request))
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(page) = stream.next().await {
            let page = page.map_err(|status| self.client.status_error(status))?;
            out.extend(page.info.into_iter().map(Info::from));
        }
        Ok(out)
    }
}
