//! The events service: subscribe to, publish and forward event envelopes.

mod known;

use std::pin::Pin;

use chrono::{DateTime, Utc};
use crated_api::prost::{Message, Name};
use crated_api::services::v1::events_client::EventsClient;
use crated_api::services::v1::{ForwardRequest, PublishRequest, SubscribeRequest};
use crated_api::types;
use futures::{Stream, StreamExt};
use prost_types::Any;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

pub use known::KnownEvent;

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// How many received events may wait for the caller to take them.
const EVENT_BUFFER: usize = 64;

/// A stream of event envelopes; it ends only if the daemon ends it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Envelope>> + Send>>;

/// Handle on the events service.
#[derive(Debug, Clone)]
pub struct Events {
    client: Client,
}

/// One event as the daemon delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// When the event was published.
    pub timestamp: DateTime<Utc>,
    /// The namespace the event happened in.
    pub namespace: String,
    /// The topic, e.g. `/namespaces/create`.
    pub topic: String,
    /// The event body, still encoded.
    pub event: Option<Any>,
}

impl Envelope {
    /// The type URL of the event body, e.g. `containerd.events.TaskExit`.
    pub fn type_url(&self) -> Option<&str> {
        self.event.as_ref().map(|any| any.type_url.as_str())
    }

    /// The event body decoded, when its type is one of containerd's event
    /// types; `Ok(None)` for other types or no body.
    pub fn decode(&self) -> Result<Option<KnownEvent>> {
        match &self.event {
            Some(any) => KnownEvent::decode(any),
            None => Ok(None),
        }
    }
}

impl From<types::Envelope> for Envelope {
    fn from(e: types::Envelope) -> Self {
        Envelope {
            timestamp: convert::time(e.timestamp.as_ref()),
            namespace: e.namespace,
            topic: e.topic,
            event: e.event,
        }
    }
}

/// Packs `message` into an `Any` with the type URL containerd uses: the
/// message's full protobuf name, e.g. `containerd.events.TaskExit`.
pub fn to_any<M: Message + Name>(message: &M) -> Any {
    Any {
        type_url: M::full_name(),
        value: message.encode_to_vec(),
    }
}

impl Events {
    pub(crate) fn new(client: Client) -> Self {
        Events { client }
    }

    fn grpc(&self) -> EventsClient<tonic::transport::Channel> {
        grpc_client!(self.client, EventsClient)
    }

    /// Subscribes to events matching any of `filters` (containerd filter
    /// syntax, e.g. `topic~="/namespaces/"`); all events when empty.
    ///
    /// Events of every namespace are delivered, whatever this handle's
    /// namespace. The subscription is sent at once from a background task
    /// (a daemon may not answer until the first event, so no request
    /// timeout applies); as with containerd's client, an event published
    /// before the daemon has registered the subscription is not delivered.
    /// Dropping the stream ends the subscription.
    pub async fn subscribe(&self, filters: &[String]) -> Result<EventStream> {
        let request = self.client.request(SubscribeRequest {
            filters: filters.to_vec(),
        })?;
        let mut grpc = self.grpc();
        let client = self.client.clone();
        let (sender, receiver) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(async move {
            let forward = async {
                let response = grpc
                    .subscribe(request)
                    .await
                    .map_err(|status| client.status_error(status))?;
                let mut events = response.into_inner();
                while let Some(envelope) = events
                    .message()
                    .await
                    .map_err(|status| client.status_error(status))?
                {
                    if sender.send(Ok(Envelope::from(envelope))).await.is_err() {
                        break;
                    }
                }
                Ok::<(), Error>(())
            };
            tokio::select! {
                result = forward => {
                    if let Err(err) = result {
                        let _ = sender.send(Err(err)).await;
                    }
                }
                () = sender.closed() => {}
            }
        });
        Ok(ReceiverStream::new(receiver).boxed())
    }

    /// Publishes `event` on `topic` in this handle's namespace.
    pub async fn publish(&self, topic: &str, event: Any) -> Result<()> {
        let request = self.client.unary_request(PublishRequest {
            topic: topic.to_string(),
            event: Some(event),
        })?;
        self.client
            .unary("events publish", self.grpc().publish(request))
            .await
    }

    /// Publishes a typed `event` on `topic` in this handle's namespace.
    pub async fn publish_message<M: Message + Name>(&self, topic: &str, event: &M) -> Result<()> {
        self.publish(topic, to_any(event)).await
    }

    /// Forwards an envelope as is, keeping its namespace and timestamp (what
    /// shims do to deliver their events).
    pub async fn forward(&self, envelope: &Envelope) -> Result<()> {
        let request = self.client.unary_request(ForwardRequest {
            envelope: Some(types::Envelope {
                timestamp: Some(convert::timestamp(envelope.timestamp)),
                namespace: envelope.namespace.clone(),
                topic: envelope.topic.clone(),
                event: envelope.event.clone(),
            }),
        })?;
        self.client
            .unary("events forward", self.grpc().forward(request))
            .await
    }
}
