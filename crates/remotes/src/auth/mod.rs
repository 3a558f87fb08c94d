//! Registry authentication: `WWW-Authenticate` challenges, credentials and
//! the per-host authorizer (Basic, and Bearer tokens cached per scope).

mod authorizer;
mod challenge;
mod credentials;

pub(crate) use authorizer::Authorizer;
pub use challenge::{AuthScheme, Challenge, parse_www_authenticate};
pub use credentials::{Credential, CredentialSource, Credentials, DockerConfig};
