//! The namespaces service.

use std::collections::HashMap;

use crated_api::services::v1::namespaces_client::NamespacesClient;
use crated_api::services::v1::{
    self as api, CreateNamespaceRequest, DeleteNamespaceRequest, GetNamespaceRequest,
    ListNamespacesRequest, UpdateNamespaceRequest,
};
use prost_types::FieldMask;

use crate::client::Client;
use crate::error::{Error, Result};

/// Handle on the namespaces service.
#[derive(Debug, Clone)]
pub struct Namespaces {
    client: Client,
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
    /// The namespace's labels.
    pub labels: HashMap<String, String>,
}

impl From<api::Namespace> for Namespace {
    fn from(ns: api::Namespace) -> Self {
        Namespace {
            name: ns.name,
            labels: ns.labels,
        }
    }
}

/// The field-mask path that updates label `key`: `labels.<key>`.
pub fn label_path(key: &str) -> String {
    format!("labels.{key}")
}

impl Namespaces {
    pub(crate) fn new(client: Client) -> Self {
        Namespaces { client }
    }

    fn grpc(&self) -> NamespacesClient<tonic::transport::Channel> {
        grpc_client!(self.client, NamespacesClient)
    }

    /// Creates namespace `name` with `labels`.
    pub async fn create(&self, name: &str, labels: HashMap<String, String>) -> Result<Namespace> {
        let request = self.client.unary_request(CreateNamespaceRequest {
            namespace: Some(api::Namespace {
                name: name.to_string(),
                labels,
            }),
        })?;
        let response = self
            .client
            .unary("namespaces create", self.grpc().create(request))
            .await?;
        missing(response.namespace, "create")
    }

    /// The namespace called `name`.
    pub async fn get(&self, name: &str) -> Result<Namespace> {
        let request = self.client.unary_request(GetNamespaceRequest {
            name: name.to_string(),
        })?;
        let response = self
            .client
            .unary("namespaces get", self.grpc().get(request))
            .await?;
        missing(response.namespace, "get")
    }

    /// Every namespace.
    pub async fn list(&self) -> Result<Vec<Namespace>> {
        self.list_filtered("").await
    }

    /// The namespaces matching `filter` (containerd filter syntax; the empty
    /// filter matches all).
    pub async fn list_filtered(&self, filter: &str) -> Result<Vec<Namespace>> {
        let request = self.client.unary_request(ListNamespacesRequest {
            filter: filter.to_string(),
        })?;
        let response = self
            .client
            .unary("namespaces list", self.grpc().list(request))
            .await?;
        Ok(response
            .namespaces
            .into_iter()
            .map(Namespace::from)
            .collect())
    }

    /// Updates namespace `name`: each of `paths` (e.g. `labels.<key>`, or
    /// `labels` for all of them) is taken from `labels`; a label named in
    /// `paths` but absent from `labels` is removed.
    pub async fn update(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        paths: Vec<String>,
    ) -> Result<Namespace> {
        let request = self.client.unary_request(UpdateNamespaceRequest {
            namespace: Some(api::Namespace {
                name: name.to_string(),
                labels,
            }),
            update_mask: Some(FieldMask { paths }),
        })?;
        let response = self
            .client
            .unary("namespaces update", self.grpc().update(request))
            .await?;
        missing(response.namespace, "update")
    }

    /// Sets the labels in `changes` on namespace `name`; an empty value
    /// removes the label. Other labels are kept.
    pub async fn update_labels(
        &self,
        name: &str,
        changes: HashMap<String, String>,
    ) -> Result<Namespace> {
        let paths = changes.keys().map(|k| label_path(k)).collect();
        let labels = changes.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        self.update(name, labels, paths).await
    }

    /// Deletes namespace `name`; the daemon refuses if it is not empty.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let request = self.client.unary_request(DeleteNamespaceRequest {
            name: name.to_string(),
        })?;
        self.client
            .unary("namespaces delete", self.grpc().delete(request))
            .await
    }
}

fn missing(ns: Option<api::Namespace>, call: &str) -> Result<Namespace> {
    ns.map(Namespace::from)
        .ok_or_else(|| Error::protocol(format!("namespaces {call}: the answer has no namespace")))
}
