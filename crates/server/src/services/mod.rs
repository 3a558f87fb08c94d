//! gRPC service adapters: thin translations between containerd's wire
//! types and crated's stores. One module per containerd service.

pub mod checkpoint;
pub mod containers;
pub mod content;
pub mod convert;
pub mod diff;
pub mod events;
pub mod images;
pub mod introspection;
pub mod leases;
pub mod legacy_runtime;
pub mod limits;
pub mod namespaces;
pub mod snapshots;
pub mod streaming;
pub mod task_convert;
pub mod task_events;
pub mod tasks;
pub mod version;

use chrono::{DateTime, TimeZone, Utc};
use crated_api::prost_types::Timestamp;
use crated_api::tonic::{Request, Status};
use crated_core::{Error, identifiers};
use tonic::service::Routes;

/// The gRPC metadata key carrying a lease to hold new resources.
pub const LEASE_HEADER: &str = "containerd-lease";

/// The largest gRPC messages a service accepts and sends (`[grpc]
/// max_recv_message_size` and `max_send_message_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Largest message received, in bytes.
    pub recv: usize,
    /// Largest message sent, in bytes.
    pub send: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits {
            recv: crated_api::DEFAULT_MAX_MESSAGE_SIZE,
            send: crated_api::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// Adds a generated tonic server to the routes with the daemon's message
/// limits; a message over them answers RESOURCE_EXHAUSTED as containerd's
/// does (see [`limits::SizeLimitCode`]).
macro_rules! limited {
    ($routes:expr, $limits:expr, $server:expr $(,)?) => {
        $routes.add_service($crate::services::limits::SizeLimitCode(
            $server
                .max_decoding_message_size($limits.recv)
                .max_encoding_message_size($limits.send),
        ))
    };
}
pub(crate) use limited;

/// A loaded gRPC plugin: adds its service to the server's routes.
pub struct GrpcService {
    add: Box<dyn Fn(Routes, MessageLimits) -> Routes + Send + Sync>,
}

impl GrpcService {
    /// Wraps a function that adds a service to the routes.
    pub fn new(add: impl Fn(Routes, MessageLimits) -> Routes + Send + Sync + 'static) -> Self {
        GrpcService { add: Box::new(add) }
    }

    /// Adds this service to `routes` with `limits`.
    pub fn register(&self, routes: Routes, limits: MessageLimits) -> Routes {
        (self.add)(routes, limits)
    }
}

/// A name unique to this moment, for the temporary ingests, snapshot
/// keys and leases the daemon creates.
pub use crated_core::identifiers::unique_name;

/// The namespace a request names, validated; containerd's rules: it must be
/// present (FailedPrecondition) and a valid identifier (InvalidArgument).
pub fn namespace<T>(req: &Request<T>) -> Result<String, Status> {
    let value = req
        .metadata()
        .get(crated_api::NAMESPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match value {
        None => Err(Error::failed_precondition(
            "namespace is required (set the containerd-namespace gRPC header, e.g. cratectl -n default)",
        )
        .into()),
        Some(ns) => {
            identifiers::validate(&ns).map_err(|e| e.context("namespace validation"))?;
            Ok(ns)
        }
    }
}

/// The lease a request asks new resources to be held by, if any.
pub fn lease<T>(req: &Request<T>) -> Option<String> {
    req.metadata()
        .get(LEASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Runs blocking store work off the async threads ([`crate::blocking::run`]),
/// answering a gRPC status.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crated_core::Result<T> + Send + 'static,
) -> Result<T, Status> {
    crate::blocking::run(f).await.map_err(Status::from)
}

/// chrono time to protobuf time.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// protobuf time to chrono time (the epoch when absent or out of range).
pub fn from_timestamp(t: Option<&Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| Utc.timestamp_opt(t.seconds, t.nanos.max(0) as u32).single())
        .unwrap_or_default()
}

/// Parses the filters of a List request into one filter.
pub fn parse_filters(filters: &[String]) -> Result<crated_core::filters::Filter, Status> {
    crated_core::filters::Filter::parse_all(filters).map_err(Status::from)
}
