//! The event exchange: every published or forwarded event is broadcast to
//! the subscribers whose filters match it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crated_api::prost::Message;
use crated_api::prost_types::{Any, Timestamp};
use crated_api::types::Envelope;
use crated_core::filters::{Adaptor, Filter};
use crated_core::{Error, Result, identifiers};
use tokio::sync::{Notify, broadcast, watch};

/// How many events a slow subscriber may lag behind before it misses some.
const BACKLOG: usize = 4096;

/// Broadcasts event envelopes to subscribers.
#[derive(Clone)]
pub struct Exchange {
    sender: broadcast::Sender<Envelope>,
    /// Becomes true when the daemon shuts down: every subscription ends.
    closed: Arc<watch::Sender<bool>>,
    /// Notified whenever someone subscribes.
    subscribed: Arc<Notify>,
}

impl Default for Exchange {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        Exchange {
            sender,
            closed: Arc::new(watch::channel(false).0),
            subscribed: Arc::new(Notify::new()),
        }
    }
}

struct EnvelopeFields<'a>(&'a Envelope);

impl Adaptor for EnvelopeFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("namespace") if path.len() == 1 => Some(self.0.namespace.clone()),
            Some("topic") if path.len() == 1 => Some(self.0.topic.clone()),
            _ => None,
        }
    }
}

/// Checks a topic: `/` followed by one or more identifiers joined by `/`.
pub fn validate_topic(topic: &str) -> Result<()> {
    let bad = |why: String| Error::invalid_argument(format!("envelope topic {topic:?}: {why}"));
    if topic.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    let Some(rest) = topic.strip_prefix('/') else {
        return Err(bad("must start with '/'".into()));
    };
    if rest.is_empty() {
        return Err(bad("must have at least one component".into()));
    }
    for component in rest.split('/') {
        identifiers::validate(component).map_err(|e| {
            bad(format!(
                "failed validation on component {component:?}: {}",
                e.message()
            ))
        })?;
    }
    Ok(())
}

fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

impl Exchange {
    /// Publishes `event` on `topic` in namespace `ns`, stamped now.
    pub fn publish(&self, ns: &str, topic: &str, event: Any) -> Result<()> {
        identifiers::validate(ns).map_err(|e| e.context("event namespace"))?;
        validate_topic(topic)?;
        self.send(Envelope {
            timestamp: Some(now()),
            namespace: ns.to_string(),
            topic: topic.to_string(),
            event: Some(event),
        });
        Ok(())
    }

    /// Publishes a typed containerd event message.
    pub fn publish_message<M: Message + crated_api::prost::Name>(
        &self,
        ns: &str,
        topic: &str,
        event: &M,
    ) {
        let any = Any {
            type_url: M::full_name(),
            value: event.encode_to_vec(),
        };
        if let Err(e) = self.publish(ns, topic, any) {
            tracing::warn!(namespace = ns, topic, error = %e, "event not published");
        }
    }

    /// Forwards an envelope that already carries namespace, topic and time.
    pub fn forward(&self, envelope: Envelope) -> Result<()> {
        identifiers::validate(&envelope.namespace)
            .map_err(|e| e.context("event envelope has invalid namespace"))?;
        validate_topic(&envelope.topic)?;
        if envelope.timestamp.is_none() {
            return Err(Error::invalid_argument(
                "timestamp must be set on forwarded event",
            ));
        }
        self.send(envelope);
        Ok(())
    }

    fn send(&self, envelope: Envelope) {
        tracing::debug!(topic = %envelope.topic, namespace = %envelope.namespace, "event");
        let _ = self.sender.send(envelope);
    }

    /// A subscription to every event matching `filter`.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        let subscription = Subscription {
            receiver: self.sender.subscribe(),
            closed: self.closed.subscribe(),
            filter,
        };
        self.subscribed.notify_waiters();
        subscription
    }

    /// Publishes `events` (namespace, topic, event) once there is a
    /// subscriber to receive them, or after `hold` at the latest. Events
    /// the daemon learns of before it serves (exits found on recovery)
    /// would otherwise be broadcast to no one. Needs a tokio runtime.
    pub fn publish_when_subscribed(&self, events: Vec<(String, String, Any)>, hold: Duration) {
        if events.is_empty() {
            return;
        }
        let exchange = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + hold;
            loop {
                let subscribed = exchange.subscribed.notified();
                if exchange.sender.receiver_count() > 0 {
                    break;
                }
                tokio::select! {
                    _ = subscribed => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            for (ns, topic, event) in events {
                if let Err(e) = exchange.publish(&ns, &topic, event) {
                    tracing::warn!(namespace = %ns, topic = %topic, error = %e, "held event not published");
                }
            }
        });
    }

    /// Ends every subscription, now and to come (the daemon is stopping):
    /// open `Subscribe` streams finish, so a graceful shutdown does not wait
    /// for subscribers that never leave on their own.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// Receives the events of one subscriber.
pub struct Subscription {
    receiver: broadcast::Receiver<Envelope>,
    closed: watch::Receiver<bool>,
    filter: Filter,
}

impl Subscription {
    /// The next matching event; `None` once the exchange is gone or closed.
    pub async fn next(&mut self) -> Option<Envelope> {
        loop {
            let received = tokio::select! {
                biased;
                _ = self.closed.wait_for(|closed| *closed) => return None,
                received = self.receiver.recv() => received,
            };
            match received {
                Ok(envelope) => {
                    if self.filter.matches(&EnvelopeFields(&envelope)) {
                        return Some(envelope);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "event subscriber lagged; events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn close_ends_open_and_later_subscriptions() {
        let exchange = Exchange::default();
        let mut open = exchange.subscribe(Filter::default());
        exchange.close();
        assert!(open.next().await.is_none());
        assert!(exchange.subscribe(Filter::default()).next().await.is_none());
    }

    #[test]
    fn topics_are_validated_like_containerd() {
        assert!(validate_topic("/namespaces/create").is_ok());
        for bad in ["", "x", "/", "/a//b", "/a/b c"] {
            assert!(validate_topic(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn subscribers_receive_only_matching_events() {
        let ex = Exchange::default();
        let filter = Filter::parse_all(&["topic==\"/a/b\""]).unwrap();
        let mut sub = ex.subscribe(filter);
        ex.publish("ns", "/a/c", Any::default()).unwrap();
        ex.publish("ns", "/a/b", Any::default()).unwrap();
        let got = sub.next().await.unwrap();
        assert_eq!(got.topic, "/a/b");
        assert_eq!(got.namespace, "ns");
        assert!(got.timestamp.is_some());
    }

    #[test]
    fn forward_requires_timestamp() {
        let ex = Exchange::default();
        let env = Envelope {
            timestamp: None,
            namespace: "ns".into(),
            topic: "/x".into(),
            event: None,
        };
        assert!(ex.forward(env).is_err());
    }
}
