//! `io.containerd.grpc.v1.cri`: the Kubernetes CRI services
//! (`runtime.v1.RuntimeService`, `runtime.v1.ImageService`) on crated's
//! socket. The plugin reaches crated's own services through the daemon's
//! socket, so it needs no other plugin at init.

use crated_api::cri::image_service_server::ImageServiceServer;
use crated_api::cri::runtime_service_server::RuntimeServiceServer;
use crated_config::plugins::CriConfig;
use crated_cri::{CriOptions, CriService};

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::GRPC;
use crate::services::{GrpcService, limited};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "cri", &[], init).with_config::<CriConfig>()
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let config: CriConfig = ctx.config()?;
    let service = CriService::new(CriOptions {
        config,
        address: ctx.daemon.grpc_address.clone(),
        root: ctx.root.clone(),
        state: ctx.state.clone(),
    });
    grpc(GrpcService::new(move |routes, limits| {
        let routes = limited!(routes, limits, RuntimeServiceServer::new(service.clone()));
        limited!(routes, limits, ImageServiceServer::new(service.clone()))
    }))
}
