//! The [`Client`]: one connection to the daemon, seen from one namespace.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crated_api::NAMESPACE_HEADER;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::connect::{ConnectOptions, connect_channel};
use crate::containers::Containers;
use crate::content::Content;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::images::Images;
use crate::introspection::Introspection;
use crate::leases::Leases;
use crate::namespaces::Namespaces;
use crate::snapshots::Snapshots;
use crate::tasks::Tasks;
use crate::version::Version;

/// The gRPC metadata key that carries the lease of a request.
pub const LEASE_HEADER: &str = "containerd-lease";

/// The namespace a new [`Client`] works in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A connection to crated (or containerd) and the namespace its requests
/// are made in.
///
/// Cloning is cheap and shares the connection. [`Client::namespace`] gives
/// a handle on the same connection that works in another namespace.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    namespace: String,
    lease: Option<String>,
}

struct Shared {
    channel: Channel,
    address: PathBuf,
    options: ConnectOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.shared.address)
            .field("namespace", &self.namespace)
            .field("lease", &self.lease)
            .field("options", &self.shared.options)
            .finish()
    }
}

impl Client {
    /// Connects to the daemon listening on the unix socket `address`. The
    /// new client works in the namespace [`DEFAULT_NAMESPACE`].
    pub async fn connect(address: impl AsRef<Path>, options: ConnectOptions) -> Result<Client> {
        let address = address.as_ref();
        let channel = connect_channel(address, &options).await?;
        Ok(Client {
            shared: Arc::new(Shared {
                channel,
                address: address.to_path_buf(),
                options,
            }),
            namespace: DEFAULT_NAMESPACE.to_string(),
            lease: None,
        })
    }

    /// A handle on the same connection whose requests carry the namespace
    /// `name` (gRPC metadata `containerd-namespace`).
    pub fn namespace(&self, name: impl Into<String>) -> Client {
        Client {
            shared: Arc::clone(&self.shared),
            namespace: name.into(),
            lease: self.lease.clone(),
        }
    }

    /// A handle on the same connection and namespace whose requests carry
    /// lease `id` (gRPC metadata `containerd-lease`): what they create is
    /// held by the lease until it is deleted.
    pub fn with_lease(&self, id: impl Into<String>) -> Client {
        Client {
            shared: Arc::clone(&self.shared),
            namespace: self.namespace.clone(),
            lease: Some(id.into()),
        }
    }

    /// The namespace this handle's requests are made in.
    pub fn current_namespace(&self) -> &str {
        &self.namespace
    }

    /// The socket path this client is connected to.
    pub fn address(&self) -> &Path {
        &self.shared.address
    }

    /// The options the client was connected with.
    pub fn options(&self) -> &ConnectOptions {
        &self.shared.options
    }

    /// The daemon's version and revision.
    pub async fn version(&self) -> Result<Version> {
        crate::version::get(self).await
    }

    /// The introspection service: plugins and server information.
    pub fn introspection(&self) -> Introspection {
        Introspection::new(self.clone())
    }

    /// The namespaces service.
    pub fn namespaces(&self) -> Namespaces {
        Namespaces::new(self.clone())
    }

    /// The events service, in this handle's namespace.
    pub fn events(&self) -> Events {
        Events::new(self.clone())
    }

    /// The leases service, in this handle's namespace.
    pub fn leases(&self) -> Leases {
        Leases::new(self.clone())
    }

    /// The content store, in this handle's namespace.
    pub fn content(&self) -> Content {
        Content::new(self.clone())
    }

    /// The containers service, in this handle's namespace.
    pub fn containers(&self) -> Containers {
        Containers::new(self.clone())
    }

    /// The tasks service, in this handle's namespace.
    pub fn tasks(&self) -> Tasks {
        Tasks::new(self.clone())
    }

    /// The images service, in this handle's namespace.
    pub fn images(&self) -> Images {
        Images::new(self.clone())
    }

    /// Snapshotter `name` (e.g. `overlayfs`) of the snapshots service, in
    /// this handle's namespace.
    pub fn snapshots(&self, name: impl Into<String>) -> Snapshots {
        Snapshots::new(self.clone(), name.into())
    }

    /// The shared gRPC channel.
    pub(crate) fn channel(&self) -> Channel {
        self.shared.channel.clone()
    }

    /// Wraps `message` in a request carrying this handle's namespace.
    pub(crate) fn request<T>(&self, message: T) -> Result<Request<T>> {
        let invalid = || {
            Error::InvalidArgument(format!(
                "namespace {:?} cannot be sent: it must be printable ASCII",
                self.namespace
            ))
        };
        if !self.namespace.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(invalid());
        }
        let value = AsciiMetadataValue::try_from(self.namespace.as_str()).map_err(|_| invalid())?;
        let mut request = Request::new(message);
        request.metadata_mut().insert(NAMESPACE_HEADER, value);
        if let Some(lease) = &self.lease {
            let value = AsciiMetadataValue::try_from(lease.as_str()).map_err(|_| {
                Error::InvalidArgument(format!("lease id {lease:?} cannot be sent"))
            })?;
            request.metadata_mut().insert(LEASE_HEADER, value);
        }
        Ok(request)
    }

    /// Like [`Client::request`], and tells the daemon the request timeout as
    /// the gRPC deadline. For unary calls only: a stream must not be cut off.
    pub(crate) fn unary_request<T>(&self, message: T) -> Result<Request<T>> {
        let mut request = self.request(message)?;
        if let Some(timeout) = self.shared.options.request_timeout {
            request.set_timeout(timeout);
        }
        Ok(request)
    }

    /// Awaits `call` within the request timeout and maps its status.
    pub(crate) async fn unary<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = std::result::Result<Response<T>, Status>>,
    ) -> Result<T> {
        self.within_timeout(operation, call)
            .await
            .map(Response::into_inner)
    }

    /// Awaits `fut` within the request timeout and maps its status.
    pub(crate) async fn within_timeout<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = std::result::Result<T, Status>>,
    ) -> Result<T> {
        let result = match self.shared.options.request_timeout {
            Some(timeout) => tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| Error::Timeout { operation, timeout })?,
            None => fut.await,
        };
        result.map_err(|status| self.status_error(status))
    }

    /// The client error for a failed call.
    pub(crate) fn status_error(&self, status: Status) -> Error {
        Error::from_status(status, &self.shared.address)
    }
}
