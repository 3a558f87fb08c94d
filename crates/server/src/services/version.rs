//! `containerd.services.version.v1.Version`.

use crated_api::server::version_server::{Version, VersionServer};
use crated_api::services::v1::VersionResponse;
use crated_api::tonic::{Request, Response, Status};

use super::GrpcService;

/// The version this daemon reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source revision this daemon was built from, when known.
pub const REVISION: &str = match option_env!("CRATED_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// The Version service.
#[derive(Default)]
pub struct VersionService;

#[tonic::async_trait]
impl Version for VersionService {
    async fn version(&self, _: Request<()>) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: VERSION.to_string(),
            revision: REVISION.to_string(),
        }))
    }
}

/// The service as a gRPC plugin instance.
pub fn service() -> GrpcService {
    GrpcService::new(|routes, limits| {
        crate::services::limited!(routes, limits, VersionServer::new(VersionService))
    })
}
