//! The containers service: container records (metadata; the running
//! process is a task).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_api::services::v1::container::Runtime as ApiRuntime;
use crated_api::services::v1::containers_client::ContainersClient;
use crated_api::services::v1::{
    self as api, CreateContainerRequest, DeleteContainerRequest, GetContainerRequest,
    ListContainersRequest, UpdateContainerRequest,
};
use oci_spec::runtime::Spec;
use prost_types::{Any, FieldMask};

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// Handle on the containers service.
#[derive(Debug, Clone)]
pub struct Containers {
    client: Client,
}

/// The runtime a container's tasks run with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runtime {
    /// The runtime name, e.g. `io.containerd.runc.v2`.
    pub name: String,
    /// Runtime-specific options (e.g. `containerd.runc.v1.Options`).
    pub options: Option<Any>,
}

/// A container record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// The image reference the container was created from; empty for a
    /// container without an image.
    pub image: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The OCI runtime spec, as stored (JSON in an `Any`).
    pub spec: Option<Any>,
    /// The snapshotter of the root filesystem snapshot.
    pub snapshotter: String,
    /// The key of the root filesystem snapshot; empty when the root is not
    /// a snapshot (e.g. a directory given as the spec's root path).
    pub snapshot_key: String,
    /// When the record was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the record was last updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Extensions by name.
    pub extensions: HashMap<String, Any>,
}

impl Container {
    /// A container `id` with `spec` and `runtime`.
    pub fn new(id: impl Into<String>, runtime: Runtime, spec: &Spec) -> Result<Container> {
        Ok(Container {
            id: id.into(),
            runtime,
            spec: Some(crate::spec::to_any(spec)?),
            ..Container::default()
        })
    }

    /// The decoded runtime spec.
    pub fn spec(&self) -> Result<Spec> {
        let any = self.spec.as_ref().ok_or_else(|| {
            Error::Daemon(crated_core::Error::not_found(format!(
                "container {:?} has no spec",
                self.id
            )))
        })?;
        crate::spec::from_any(any)
    }

    /// The runtime spec as JSON, for printing.
    pub fn spec_json(&self) -> Option<serde_json::Value> {
        let any = self.spec.as_ref()?;
        serde_json::from_slice(&any.value).ok()
    }
}

impl From<api::Container> for Container {
    fn from(c: api::Container) -> Self {
        let runtime = c.runtime.map(|r| Runtime {
            name: r.name,
            options: r.options,
        });
        Container {
            id: c.id,
            labels: c.labels,
            image: c.image,
            runtime: runtime.unwrap_or_default(),
            spec: c.spec,
            snapshotter: c.snapshotter,
            snapshot_key: c.snapshot_key,
            created_at: convert::optional_time(c.created_at.as_ref()),
            updated_at: convert::optional_time(c.updated_at.as_ref()),
            extensions: c.extensions,
        }
    }
}

impl From<&Container> for api::Container {
    fn from(c: &Container) -> Self {
        api::Container {
            id: c.id.clone(),
            labels: c.labels.clone(),
            image: c.image.clone(),
            runtime: Some(ApiRuntime {
                name: c.runtime.name.clone(),
                options: c.runtime.options.clone(),
            }),
            spec: c.spec.clone(),
            snapshotter: c.snapshotter.clone(),
            snapshot_key: c.snapshot_key.clone(),
            created_at: c.created_at.map(convert::timestamp),
            updated_at: c.updated_at.map(convert::timestamp),
            extensions: c.extensions.clone(),
            sandbox: String::new(),
        }
    }
}

fn required(container: Option<api::Container>, operation: &str) -> Result<Container> {
    container
        .map(Container::from)
        .ok_or_else(|| Error::protocol(format!("{operation}: the answer has no container")))
}

impl Containers {
    pub(crate) fn new(client: Client) -> Self {
        Containers { client }
    }

    fn grpc(&self) -> ContainersClient<tonic::transport::Channel> {
        grpc_client!(self.client, ContainersClient)
    }

    /// Container `id`.
    pub async fn get(&self, id: &str) -> Result<Container> {
        let request = self
            .client
            .unary_request(GetContainerRequest { id: id.to_string() })?;
        let response = self
            .client
            .unary("containers get", self.grpc().get(request))
            .await?;
        required(response.container, "containers get")
    }

    /// The containers matching any of `filters`; all when empty.
    pub async fn list(&self, filters: &[String]) -> Result<Vec<Container>> {
        let request = self.client.unary_request(ListContainersRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("containers list", self.grpc().list(request))
            .await?;
        Ok(response
            .containers
            .into_iter()
            .map(Container::from)
            .collect())
    }

    /// Creates `container`; the daemon sets the times.
    pub async fn create(&self, container: &Container) -> Result<Container> {
        let request = self.client.unary_request(CreateContainerRequest {
            container: Some(container.into()),
        })?;
        let response = self
            .client
            .unary("containers create", self.grpc().create(request))
            .await?;
        required(response.container, "containers create")
    }

    /// Updates the fields of `container` named by `field_paths` (e.g.
    /// `labels`, `labels.<key>`, `spec`, `image`, `extensions.<name>`);
    /// all mutable fields when empty.
    pub async fn update(&self, container: &Container, field_paths: &[String]) -> Result<Container> {
        let request = self.client.unary_request(UpdateContainerRequest {
            container: Some(container.into()),
            update_mask: (!field_paths.is_empty()).then(|| FieldMask {
                paths: field_paths.to_vec(),
            }),
        })?;
        let response = self
            .client
            .unary("containers update", self.grpc().update(request))
            .await?;
        required(response.container, "containers update")
    }

    /// Sets labels of container `id`; an empty value removes a label.
    /// Returns the labels the container has afterwards.
    pub async fn set_labels(
        &self,
        id: &str,
        labels: HashMap<String, String>,
    ) -> Result<HashMap<String, String>> {
        let paths = labels
            .keys()
            .map(|key| format!("labels.{key}"))
            .collect::<Vec<_>>();
        let container = Container {
            id: id.to_string(),
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            ..Container::default()
        };
        Ok(self.update(&container, &paths).await?.labels)
    }

    /// Deletes container `id` (its task must be gone; its snapshot is
    /// not removed).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let request = self
            .client
            .unary_request(DeleteContainerRequest { id: id.to_string() })?;
        self.client
            .unary("containers delete", self.grpc().delete(request))
            .await
    }
}
