//! Publishing task events to the daemon: a namespaced envelope forwarded
//! over ttrpc to `containerd.services.events.ttrpc.v1.Events/Forward` at
//! `TTRPC_ADDRESS`; when that fails, the `publish` command of the daemon's
//! binary with the event on stdin. Events go out in order, one task drains
//! the queue, and a failed event is retried a few times with growing delay.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crated_api::NAMESPACE_HEADER_TTRPC;
use crated_api::ttrpc::api::ForwardRequest;
use crated_api::ttrpc::protobuf::well_known_types::any::Any;
use crated_api::ttrpc::protobuf::well_known_types::timestamp::Timestamp;
use crated_api::ttrpc::protobuf::{Message, MessageField};
use crated_api::ttrpc::shim::event::Envelope;
use crated_api::ttrpc::shim_async::{Client, EventsClient};
use crated_api::ttrpc::ttrpc::context;
use tokio::sync::{mpsc, oneshot};

use crate::reaper::Reaper;

/// How often an event is retried before it is dropped.
const MAX_RETRIES: u32 = 5;
/// The deadline of one forward.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

enum Item {
    Event { topic: &'static str, event: Any },
    Flush(oneshot::Sender<()>),
}

/// Sends events to the daemon; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Item>,
}

/// Where and how events reach the daemon.
pub struct Target {
    /// The namespace the events belong to.
    pub namespace: String,
    /// The daemon's ttrpc address (`TTRPC_ADDRESS`).
    pub ttrpc_address: String,
    /// The daemon's gRPC address, for the publish binary.
    pub grpc_address: String,
    /// The binary whose `publish` command is the fallback.
    pub publish_binary: String,
}

impl Publisher {
    /// Starts the publishing task.
    pub fn start(target: Target, reaper: Arc<Reaper>) -> Publisher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(target, reaper, rx));
        Publisher { tx }
    }

    /// Queues `event` (a message of type `type_url`) under `topic`.
    pub fn publish(&self, topic: &'static str, type_url: &str, event: &impl Message) {
        let mut any = Any::new();
        any.type_url = type_url.to_string();
        match event.write_to_bytes() {
            Ok(v) => any.value = v,
            Err(e) => {
                tracing::error!(topic, error = %e, "encoding event");
                return;
            }
        }
        let _ = self.tx.send(Item::Event { topic, event: any });
    }

    /// Waits until every event queued so far is sent or dropped.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Item::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A protobuf timestamp.
pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

async fn run(target: Target, reaper: Arc<Reaper>, mut rx: mpsc::UnboundedReceiver<Item>) {
    let mut client: Option<EventsClient> = None;
    while let Some(item) = rx.recv().await {
        let (topic, event) = match item {
            Item::Event { topic, event } => (topic, event),
            Item::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let mut attempt = 0;
        loop {
            let forwarded = forward(&target, &mut client, topic, &event).await;
            let Err(e) = forwarded else { break };
            tracing::debug!(topic, error = %e, "forwarding event over ttrpc failed, using publish binary");
            match publish_binary(&target, &reaper, topic, &event).await {
                Ok(()) => break,
                Err(e2) => {
                    attempt += 1;
                    if attempt > MAX_RETRIES {
                        tracing::error!(topic, ttrpc = %e, binary = %e2, "dropping event after retries");
                        break;
                    }
                    tracing::warn!(topic, ttrpc = %e, binary = %e2, attempt, "publishing event failed, retrying");
                    tokio::time::sleep(Duration::from_secs(attempt as u64)).await;
                }
            }
        }
    }
}

async fn forward(
    target: &Target,
    client: &mut Option<EventsClient>,
    topic: &str,
    event: &Any,
) -> Result<(), String> {
    if target.ttrpc_address.is_empty() {
        return Err("TTRPC_ADDRESS is not set".into());
    }
    let mut envelope = Envelope::new();
    envelope.timestamp = MessageField::some(timestamp(SystemTime::now()));
    envelope.namespace = target.namespace.clone();
    envelope.topic = topic.to_string();
    envelope.event = MessageField::some(event.clone());
    let mut req = ForwardRequest::new();
    req.envelope = MessageField::some(envelope);
    // One reconnect: the daemon may have restarted since the last event.
    for _ in 0..2 {
        let c = match client {
            Some(c) => c,
            None => {
                let address = if target.ttrpc_address.contains("://") {
                    target.ttrpc_address.clone()
                } else {
                    format!("unix://{}", target.ttrpc_address)
                };
                let conn = Client::connect(&address).await.map_err(|e| e.to_string())?;
                client.insert(EventsClient::new(conn))
            }
        };
        let mut ctx = context::with_duration(FORWARD_TIMEOUT);
        ctx.add(NAMESPACE_HEADER_TTRPC.to_string(), target.namespace.clone());
        match c.forward(ctx, &req).await {
            Ok(_) => return Ok(()),
            Err(crated_api::ttrpc::ttrpc::Error::RpcStatus(s)) => {
                return Err(s.message().to_string());
            }
            Err(e) => {
                *client = None;
                tracing::debug!(error = %e, "events connection lost, reconnecting");
            }
        }
    }
    Err("events connection lost".into())
}

async fn publish_binary(
    target: &Target,
    reaper: &Reaper,
    topic: &str,
    event: &Any,
) -> Result<(), String> {
    if target.publish_binary.is_empty() {
        return Err("no publish binary".into());
    }
    let data = event.write_to_bytes().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&target.publish_binary);
    cmd.args([
        "--address",
        &target.grpc_address,
        "publish",
        "--topic",
        topic,
        "--namespace",
        &target.namespace,
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running {}: {e}", target.publish_binary))?;
    let exit = reaper.subscribe(child.id());
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    }
    let stderr = child.stderr.take();
    let exit = tokio::time::timeout(FORWARD_TIMEOUT, exit)
        .await
        .map_err(|_| format!("{} publish timed out", target.publish_binary))?
        .map_err(|_| "lost the publish binary's exit".to_string())?;
    if exit.status == 0 {
        return Ok(());
    }
    let mut msg = String::new();
    if let Some(s) = stderr
        && let Ok(mut rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(s.into())
    {
        use tokio::io::AsyncReadExt;
        let _ = rx.read_to_string(&mut msg).await;
    }
    Err(format!(
        "{} publish exited with {}: {}",
        target.publish_binary,
        exit.status,
        msg.trim()
    ))
}
