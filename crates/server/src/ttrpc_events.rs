//! The ttrpc side of the event service, `containerd.services.events.ttrpc.v1.Events`,
//! on which runtime v2 shims forward their events.

use std::sync::Arc;

use async_trait::async_trait;
use crated_api::prost_types::{Any, Timestamp};
use crated_api::ttrpc::api::{Empty, ForwardRequest};
use crated_api::ttrpc::shim_async::{Events, create_events};
use crated_api::ttrpc::ttrpc::{self, r#async::TtrpcContext};
use crated_api::types::Envelope;

use crate::exchange::Exchange;

/// Forwards shim events into the exchange.
pub struct TtrpcEvents {
    exchange: Exchange,
}

/// Converts a rust-protobuf envelope into the prost one; an `Any` passes
/// through as type url and bytes.
fn envelope(req: &ForwardRequest) -> Envelope {
    let e = req.envelope.get_or_default();
    let timestamp = e.timestamp.as_ref().map(|t| Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    });
    let event = e.event.as_ref().map(|a| Any {
        type_url: a.type_url.clone(),
        value: a.value.clone(),
    });
    Envelope {
        timestamp,
        namespace: e.namespace.clone(),
        topic: e.topic.clone(),
        event,
    }
}

#[async_trait]
impl Events for TtrpcEvents {
    async fn forward(&self, _ctx: &TtrpcContext, req: ForwardRequest) -> ttrpc::Result<Empty> {
        self.exchange.forward(envelope(&req))?;
        Ok(Empty::new())
    }
}

/// The ttrpc service map for the daemon's ttrpc server.
pub fn services(exchange: Exchange) -> std::collections::HashMap<String, ttrpc::r#async::Service> {
    create_events(Arc::new(TtrpcEvents { exchange }))
}
