//! The version service.

use crated_api::services::v1::version_client::VersionClient;

use crate::client::Client;
use crate::error::Result;

/// The daemon's version, as `ctr version` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The release, e.g. `1.6.20`.
    pub version: String,
    /// The source revision the daemon was built from.
    pub revision: String,
}

/// Asks the daemon for its version.
pub(crate) async fn get(client: &Client) -> Result<Version> {
    let mut grpc = grpc_client!(client, VersionClient);
    let request = client.unary_request(())?;
    let response = client.unary("version", grpc.version(request)).await?;
    Ok(Version {
        version: response.version,
        revision: response.revision,
    })
}
