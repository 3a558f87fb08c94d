//! crated's client library: connect to crated (or containerd) over its unix
//! socket and drive its services with typed requests and answers.
//!
//! A [`Client`] is one connection seen from one namespace (`default` unless
//! [`Client::namespace`] picks another); every request carries that
//! namespace in the gRPC metadata key `containerd-namespace`. Service
//! handles hang off it: [`Client::introspection`], [`Client::namespaces`],
//! [`Client::events`], [`Client::leases`], [`Client::content`],
//! [`Client::containers`], [`Client::tasks`], [`Client::images`] and
//! [`Client::snapshots`]. On top of them: runtime spec generation
//! ([`spec::SpecBuilder`]), container and task creation the way
//! containerd's client does it ([`container`]), process IO over FIFOs
//! ([`cio`]) and the caller's terminal ([`console`]). Failures
//! are one [`Error`] type whose [`Error::kind`] is containerd's error class,
//! decoded from the gRPC status code.
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::time::Duration;
//!
//! use crated_client::{Client, ConnectOptions};
//!
//! # async fn example() -> Result<(), crated_client::Error> {
//! let options = ConnectOptions {
//!     request_timeout: Some(Duration::from_secs(10)),
//!     ..ConnectOptions::default()
//! };
//! let client = Client::connect("/run/crated/crated.sock", options).await?;
//! let version = client.version().await?;
//! println!("daemon {} ({})", version.version, version.revision);
//!
//! // Work in namespace "example": store a blob and list the store.
//! let ns = client.namespace("example");
//! let blob: &[u8] = b"hello\n";
//! let written = ns
//!     .content()
//!     .write_blob("example-ref", None, Some(6), blob, HashMap::new())
//!     .await?;
//! println!("stored {}", written.digest());
//! for info in ns.content().list(&[]).await? {
//!     println!("{} {} bytes", info.digest, info.size);
//! }
//! # Ok(())
//! # }
//! ```

/// A tonic client for service `$service` on `$client`'s channel, with
/// containerd's 16 MiB message limits.
macro_rules! grpc_client {
    ($client:expr, $service:ident) => {
        $service::new($client.channel())
            .max_decoding_message_size(crated_api::DEFAULT_MAX_MESSAGE_SIZE)
            .max_encoding_message_size(crated_api::DEFAULT_MAX_MESSAGE_SIZE)
    };
}

pub mod cio;
mod client;
mod connect;
pub mod console;
pub mod container;
pub mod containers;
pub mod content;
mod convert;
pub mod cri;
pub mod diff;
pub mod error;
pub mod events;
pub mod images;
pub mod import_export;
pub mod introspection;
pub mod leases;
pub mod namespaces;
pub mod pipeline;
pub mod runtime_options;
pub mod snapshot_tools;
pub mod snapshots;
pub mod spec;
pub mod streaming;
pub mod tasks;
pub mod transfer;
mod transfer_auth;
mod version;

pub use client::{Client, DEFAULT_NAMESPACE, LEASE_HEADER};
pub use connect::{ConnectOptions, DEFAULT_CONNECT_TIMEOUT};
pub use error::{Error, Result};
pub use version::Version;

/// The wire types the client speaks (containerd's API), for callers that
/// need a message type, e.g. to publish or decode an event.
pub use crated_api as api;
/// crated's common error vocabulary.
pub use crated_core::{ErrorKind, HasKind};
