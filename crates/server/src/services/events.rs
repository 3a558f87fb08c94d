//! `containerd.services.events.v1.Events` (gRPC) and
//! `containerd.services.events.ttrpc.v1.Events` (ttrpc, for shims).

use std::pin::Pin;

use crated_api::server::events_server::{Events, EventsServer};
use crated_api::services::v1::{ForwardRequest, PublishRequest, SubscribeRequest};
use crated_api::tonic::{Request, Response, Status};
use crated_api::types::Envelope;
use crated_core::Error;
use futures::Stream;

use super::{GrpcService, namespace, parse_filters};
use crate::exchange::Exchange;

/// The Events service.
pub struct EventsService {
    exchange: Exchange,
}

type EnvelopeStream = Pin<Box<dyn Stream<Item = Result<Envelope, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    async fn publish(&self, req: Request<PublishRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let event = req
            .event
            .ok_or_else(|| Error::invalid_argument("event must be set"))?;
        self.exchange.publish(&ns, &req.topic, event)?;
        Ok(Response::new(()))
    }

    async fn forward(&self, req: Request<ForwardRequest>) -> Result<Response<()>, Status> {
        let envelope = req
            .into_inner()
            .envelope
            .ok_or_else(|| Error::invalid_argument("envelope must be set"))?;
        self.exchange.forward(envelope)?;
        Ok(Response::new(()))
    }

    type SubscribeStream = EnvelopeStream;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let filter = parse_filters(&req.into_inner().filters)?;
        let mut subscription = self.exchange.subscribe(filter);
        let stream = async_stream(move |tx| async move {
            while let Some(envelope) = subscription.next().await {
                if tx.send(Ok(envelope)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// Runs `producer` on its own task, feeding a bounded channel the response
/// stream reads from; the task ends when the client goes away.
pub fn async_stream<T, F, Fut>(producer: F) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(producer(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// The service as a gRPC plugin instance.
pub fn service(exchange: Exchange) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            EventsServer::new(EventsService {
                exchange: exchange.clone(),
            })
        )
    })
}
