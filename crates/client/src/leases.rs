//! The leases service: hold content and snapshots from garbage collection.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use crated_api::services::v1::leases_client::LeasesClient;
use crated_api::services::v1::{
    self as api, AddResourceRequest, CreateRequest, DeleteRequest, DeleteResourceRequest,
    ListRequest, ListResourcesRequest,
};

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// The label holding a lease's expiry time (RFC 3339); the garbage
/// collector removes the lease after it.
pub const GC_EXPIRE_LABEL: &str = "containerd.io/gc.expire";

/// Handle on the leases service.
#[derive(Debug, Clone)]
pub struct Leases {
    client: Client,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease id.
    pub id: String,
    /// When the lease was created.
    pub created_at: DateTime<Utc>,
    /// The lease's labels, including [`GC_EXPIRE_LABEL`] if it expires.
    pub labels: HashMap<String, String>,
}

/// What to create a lease with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseOptions {
    /// The id; one is generated (`<nanoseconds>-<random>`, like
    /// containerd's) when `None`.
    pub id: Option<String>,
    /// Labels to set.
    pub labels: HashMap<String, String>,
    /// Expire the lease after this long (sets [`GC_EXPIRE_LABEL`]);
    /// `None` or zero never expires.
    pub expires: Option<Duration>,
}

/// A resource a lease holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// The resource's id, e.g. a digest or a snapshot key.
    pub id: String,
    /// The resource type, e.g. `content`, `snapshots/overlayfs`,
    /// `ingests`.
    pub kind: String,
}

impl From<api::Lease> for Lease {
    fn from(l: api::Lease) -> Self {
        Lease {
            id: l.id,
            created_at: convert::time(l.created_at.as_ref()),
            labels: l.labels,
        }
    }
}

impl From<api::Resource> for Resource {
    fn from(r: api::Resource) -> Self {
        Resource {
            id: r.id,
            kind: r.r#type,
        }
    }
}

impl From<&Resource> for api::Resource {
    fn from(r: &Resource) -> Self {
        api::Resource {
            id: r.id.clone(),
            r#type: r.kind.clone(),
        }
    }
}

/// A lease id in containerd's style (one generator for every crate).
pub use crated_core::identifiers::generate_id;

/// The expiry label value for a lease created now that lasts `after`.
pub fn expiry_label(now: DateTime<Utc>, after: Duration) -> Result<String> {
    let after = chrono::Duration::from_std(after)
        .map_err(|_| Error::InvalidArgument(format!("lease expiry {after:?} is too long")))?;
    let at = now
        .checked_add_signed(after)
        .ok_or_else(|| Error::InvalidArgument(format!("lease expiry {after} is too long")))?;
    Ok(at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl Leases {
    pub(crate) fn new(client: Client) -> Self {
        Leases { client }
    }

    fn grpc(&self) -> LeasesClient<tonic::transport::Channel> {
        grpc_client!(self.client, LeasesClient)
    }

    /// Creates a lease.
    pub async fn create(&self, options: LeaseOptions) -> Result<Lease> {
        let mut labels = options.labels;
        if let Some(after) = options.expires.filter(|d| !d.is_zero()) {
            labels.insert(
                GC_EXPIRE_LABEL.to_string(),
                expiry_label(Utc::now(), after)?,
            );
        }
        let id = options.id.unwrap_or_else(generate_id);
        let request = self.client.unary_request(CreateRequest { id, labels })?;
        let response = self
            .client
            .unary("leases create", self.grpc().create(request))
            .await?;
        response
            .lease
            .map(Lease::from)
            .ok_or_else(|| Error::protocol("leases create: the answer has no lease"))
    }

    /// The leases matching any of `filters`; all when empty.
    pub async fn list(&self, filters: &[String]) -> Result<Vec<Lease>> {
        let request = self.client.unary_request(ListRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("leases list", self.grpc().list(request))
            .await?;
        Ok(response.leases.into_iter().map(Lease::from).collect())
    }

    /// Deletes lease `id`. With `sync`, the daemon also collects the garbage
    /// the lease held before answering.
    pub async fn delete(&self, id: &str, sync: bool) -> Result<()> {
        let request = self.client.unary_request(DeleteRequest {
            id: id.to_string(),
            sync,
        })?;
        self.client
            .unary("leases delete", self.grpc().delete(request))
            .await
    }

    /// Adds `resource` to lease `id`.
    pub async fn add_resource(&self, id: &str, resource: &Resource) -> Result<()> {
        let request = self.client.unary_request(AddResourceRequest {
            id: id.to_string(),
            resource: Some(resource.into()),
        })?;
        self.client
            .unary("leases add resource", self.grpc().add_resource(request))
            .await
    }

    /// Removes `resource` from lease `id`.
    pub async fn delete_resource(&self, id: &str, resource: &Resource) -> Result<()> {
        let request = self.client.unary_request(DeleteResourceRequest {
            id: id.to_string(),
            resource: Some(resource.into()),
        })?;
        self.client
            .unary(
                "leases delete resource",
                self.grpc().delete_resource(request),
            )
            .await
    }

    /// The resources lease `id` holds.
    pub async fn list_resources(&self, id: &str) -> Result<Vec<Resource>> {
        let request = self
            .client
            .unary_request(ListResourcesRequest { id: id.to_string() })?;
        let response = self
            .client
            .unary("leases list resources", self.grpc().list_resources(request))
            .await?;
        Ok(response.resources.into_iter().map(Resource::from).collect())
    }
}

/// Runs `f` with a handle on `client` whose requests hold a new lease
/// (expiring after `expiry`, so a crash does not keep what it protects for
/// ever), and deletes the lease afterwards whatever happened: what `f`
/// creates survives garbage collection until something references it.
pub async fn with_lease<T, F, Fut>(client: &Client, expiry: Duration, f: F) -> Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let lease = client
        .leases()
        .create(LeaseOptions {
            expires: Some(expiry),
            ..Default::default()
        })
        .await?;
    let result = f(client.with_lease(lease.id.clone())).await;
    if let Err(err) = client.leases().delete(&lease.id, false).await {
        tracing::warn!(lease = %lease.id, error = %err, "deleting the lease");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_containerd_ones() {
        let id = generate_id();
        let (nanos, random) = id.split_once('-').unwrap_or_default();
        assert!(nanos.parse::<u32>().is_ok(), "{id}");
        assert_eq!(random.len(), 4, "{id}");
        assert!(crated_core::identifiers::validate(&id).is_ok(), "{id}");
    }

    #[test]
    fn expiry_is_rfc3339_seconds() {
        let now = DateTime::from_timestamp(1_700_000_000, 500).unwrap_or_default();
        let label = expiry_label(now, Duration::from_secs(24 * 3600)).ok();
        assert_eq!(label.as_deref(), Some("2023-11-15T22:13:20Z"));
    }
}
