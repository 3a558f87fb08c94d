//! `containerd.services.transfer.v1.Transfer`: the daemon-side pull that
//! `cratectl pull` uses. Layers are fetched in parallel and unpacked while
//! the rest still download, all under a lease so garbage collection never
//! sees half a pull.

pub mod auth;
pub mod progress;
pub mod pull;
pub mod push;

use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::server::transfer_server::{Transfer, TransferServer};
use crated_api::services::v1::TransferRequest;
use crated_api::tonic::{Request, Response, Status};
use crated_api::types::transfer::{ImageStore, OciRegistry};
use crated_core::{Error, ErrorKind};
use crated_metadata::{Images, Leases};

use crate::exchange::Exchange;
use crate::gc::GcTrigger;
use crate::services::{GrpcService, namespace};
use crate::streaming::StreamManager;
use crate::unpack::Unpacker;

/// What the Transfer service works with.
#[derive(Clone)]
pub struct TransferContext {
    /// Content, snapshots and the applier.
    pub unpacker: Unpacker,
    /// The image store.
    pub images: Images,
    /// The lease manager.
    pub leases: Leases,
    /// Client-opened streams (progress).
    pub streams: StreamManager,
    /// Events.
    pub events: Exchange,
    /// Garbage collection.
    pub gc: GcTrigger,
    /// The snapshotter used when an unpack names none.
    pub default_snapshotter: String,
}

/// The Transfer service.
pub struct TransferService {
    ctx: TransferContext,
}

/// The message name of an `Any`, with any `type.googleapis.com/`-style
/// prefix removed.
fn type_name(any: &Any) -> &str {
    any.type_url.rsplit('/').next().unwrap_or(&any.type_url)
}

fn decode<M: Message + Default>(any: &Any) -> Result<M, Status> {
    M::decode(any.value.as_slice()).map_err(|e| {
        Error::with_source(
            ErrorKind::InvalidArgument,
            format_args!("decoding {}", any.type_url),
            e,
        )
        .into()
    })
}

#[tonic::async_trait]
impl Transfer for TransferService {
    async fn transfer(&self, req: Request<TransferRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let source = req
            .source
            .ok_or_else(|| Error::invalid_argument("source must be set"))?;
        let dest = req
            .destination
            .ok_or_else(|| Error::invalid_argument("destination must be set"))?;
        let progress_id = req.options.map(|o| o.progress_stream).unwrap_or_default();
        let progress = if progress_id.is_empty() {
            progress::Progress::default()
        } else {
            let stream = self.ctx.streams.take(&ns, &progress_id).await?;
            progress::Progress::new(Some(stream.to_client))
        };
        match (type_name(&source), type_name(&dest)) {
            (s, d) if s == OciRegistry::full_name() && d == ImageStore::full_name() => {
                let registry: OciRegistry = decode(&source)?;
                let store: ImageStore = decode(&dest)?;
                pull::pull(&self.ctx, &ns, registry, store, progress).await?;
                Ok(Response::new(()))
            }
            (s, d) if s == ImageStore::full_name() && d == OciRegistry::full_name() => {
                let store: ImageStore = decode(&source)?;
                let registry: OciRegistry = decode(&dest)?;
                let resolver = pull::resolver(&self.ctx, &ns, &registry).await?;
                push::push(&self.ctx, &ns, store, registry, resolver, progress).await?;
                Ok(Response::new(()))
            }
            (s, d) => Err(Status::from(Error::not_implemented(format!(
                "transfer from {s} to {d} is not implemented by crated yet (supported: registry to image store and back)"
            )))),
        }
    }
}

/// The service as a gRPC plugin instance.
pub fn service(ctx: TransferContext) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            TransferServer::new(TransferService { ctx: ctx.clone() })
        )
    })
}
