//! The client's side of the image pipeline (`crated_images::pipeline`):
//! its ports implemented over the daemon's primitive services — Content
//! for reading documents and labelling them, Snapshots and Diff for
//! unpacking — the way containerd's client unpacks.

use std::collections::HashMap;

use async_trait::async_trait;
use crated_api::types::Mount;
use crated_core::image::Descriptor;
use crated_core::{ErrorKind, Result};
use crated_images::pipeline::{ContentSource, LayerTarget};
use futures::StreamExt;

use crate::client::Client;
use crate::content::Content;
use crate::diff::Diff;
use crate::error::Error;
use crate::snapshots::Snapshots;

/// A client error as the pipeline's error (a daemon error as it came).
pub(crate) fn to_core(err: Error) -> crated_core::Error {
    match err {
        Error::Daemon(e) => e,
        other => crated_core::Error::new(other.kind(), other.to_string()),
    }
}

/// The content service as the pipeline reads it.
#[async_trait]
impl ContentSource for Content {
    async fn read(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let mut chunks = Content::read(self, &desc.digest, 0, 0)
            .await
            .map_err(to_core)?;
        let mut data = Vec::new();
        while let Some(chunk) = chunks.next().await {
            data.extend_from_slice(&chunk.map_err(to_core)?);
            if data.len() as u64 > limit {
                return Err(crated_core::Error::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "{} is larger than {limit} bytes: not an index, manifest or config",
                        desc.digest
                    ),
                ));
            }
        }
        Ok(data)
    }

    async fn add_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        self.update(digest, labels, paths)
            .await
            .map(|_| ())
            .map_err(to_core)
    }
}

/// A snapshotter and the diff service of one client, as the pipeline
/// unpacks into them (under the client's lease, if it has one).
pub struct ClientLayers {
    snapshots: Snapshots,
    diff: Diff,
}

impl ClientLayers {
    /// Snapshotter `snapshotter` and the diff service of `client`.
    pub fn new(client: &Client, snapshotter: &str) -> Self {
        ClientLayers {
            snapshots: client.snapshots(snapshotter),
            diff: Diff::new(client),
        }
    }
}

#[async_trait]
impl LayerTarget for ClientLayers {
    type Mounts = Vec<Mount>;

    async fn exists(&self, key: &str) -> Result<bool> {
        match self.snapshots.stat(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(to_core(e)),
        }
    }

    async fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.snapshots
            .prepare(key, parent, labels)
            .await
            .map_err(to_core)
    }

    async fn apply(&self, layer: &Descriptor, mounts: Vec<Mount>) -> Result<String> {
        self.diff
            .apply(layer, mounts)
            .await
            .map(|d| d.digest)
            .map_err(to_core)
    }

    async fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        self.snapshots
            .commit(name, key, labels)
            .await
            .map_err(to_core)
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.snapshots.remove(key).await.map_err(to_core)
    }
}
