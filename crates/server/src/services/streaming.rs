//! `containerd.services.streaming.v1.Streaming`: a client opens a stream,
//! names it in its first message (`StreamInit`), and services find it by
//! that id.

use std::pin::Pin;

use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::server::streaming_server::{Streaming, StreamingServer};
use crated_api::services::v1::StreamInit;
use crated_api::tonic::{Request, Response, Status, Streaming as InStream};
use crated_core::{Error, ErrorKind};
use futures::Stream;
use tokio::sync::mpsc;

use super::{GrpcService, namespace};
use crate::streaming::{Stream as Registered, StreamManager};

/// The Streaming service.
pub struct StreamingService {
    manager: StreamManager,
}

type AnyStream = Pin<Box<dyn Stream<Item = Result<Any, Status>> + Send>>;

#[tonic::async_trait]
impl Streaming for StreamingService {
    type StreamStream = AnyStream;

    async fn stream(
        &self,
        req: Request<InStream<Any>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let ns = namespace(&req)?;
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Error::invalid_argument("stream closed before StreamInit"))?;
        if first.type_url != StreamInit::type_url() && first.type_url != StreamInit::full_name() {
            return Err(Error::invalid_argument(format!(
                "first message must be a StreamInit, got {}",
                first.type_url
            ))
            .into());
        }
        let init = StreamInit::decode(first.value.as_slice()).map_err(|e| {
            Error::with_source(ErrorKind::InvalidArgument, "decoding StreamInit", e)
        })?;
        let (to_client, mut outgoing) = mpsc::channel::<Any>(64);
        let (incoming_tx, from_client) = mpsc::channel::<Any>(64);
        self.manager.register(
            &ns,
            &init.id,
            Registered {
                to_client: to_client.clone(),
                from_client,
            },
        )?;
        let ack = Any {
            type_url: first.type_url.clone(),
            value: Vec::new(),
        };
        let _ = to_client.send(ack).await;
        tokio::spawn(async move {
            while let Ok(Some(msg)) = input.message().await {
                if incoming_tx.send(msg).await.is_err() {
                    break;
                }
            }
        });
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(msg) = outgoing.recv().await {
                if tx.send(Ok(msg)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(manager: StreamManager) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            StreamingServer::new(StreamingService {
                manager: manager.clone(),
            })
        )
    })
}
