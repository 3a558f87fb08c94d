//! crated's registry client ("remotes"): the Docker Registry HTTP API v2 /
//! OCI distribution protocol as containerd's `remotes/docker` speaks it.
//!
//! - [`Reference`]: image references with Docker's normalisation.
//! - [`hosts`]: containerd's `hosts.toml` registry configuration (mirrors,
//!   capabilities, CA and client certificates, `skip_verify`, headers,
//!   `override_path`) and the plain-HTTP default for loopback registries.
//! - [`auth`]: `WWW-Authenticate` challenges, Basic and Bearer token
//!   authorization, credentials from `--user` or a docker `config.json`.
//! - [`Resolver`]: reference → descriptor; [`Fetcher`]: resumable reads of
//!   manifests and blobs; [`Pusher`]: blob uploads (monolithic, chunked,
//!   cross-repository mounts) and manifests; [`VerifyingReader`]: digest
//!   checks.
//!
//! Errors are [`crated_core::Error`]s with containerd's kinds: a missing
//! image is `NotFound`, refused credentials `Unauthenticated` or
//! `PermissionDenied`, an unreachable or misconfigured registry
//! `Unavailable` with a hint, an unknown manifest type `NotImplemented`, a
//! digest mismatch `FailedPrecondition`.

pub mod auth;
mod error;
mod fetcher;
pub mod hosts;
pub mod media_types;
mod pusher;
mod reader;
mod reference;
mod request;
mod resolver;
mod verify;

pub use error::error_from_io;
pub use fetcher::Fetcher;
pub use pusher::{DISTRIBUTION_SOURCE_LABEL, PushOutcome, Pusher};
pub use reader::FetchReader;
pub use reference::{DEFAULT_DOMAIN, DEFAULT_TAG, Reference};
pub use request::RetryPolicy;
pub use resolver::{MAX_MANIFEST_SIZE, Resolver, ResolverOptions};
pub use verify::{Verifier, VerifyingReader, verify_bytes};
