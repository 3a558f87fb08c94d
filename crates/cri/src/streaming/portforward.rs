//! Port forwarding over an upgraded connection (`portforward.k8s.io`): the
//! client opens an `error` and a `data` stream per connection, paired by
//! `requestid` and naming the `port`; each pair is bridged to the runtime.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::Runtime;
use super::remotecommand::{Sink, pump_out};
use super::session::{IncomingStream, Session};

/// The port-forward subprotocol.
pub const PROTOCOL: &str = "portforward.k8s.io";

/// Pairs one request's streams.
#[derive(Default)]
struct Pair {
    error: Option<IncomingStream>,
    data: Option<IncomingStream>,
}

/// Serves port forwarding for `sandbox_id` until the client goes away.
pub async fn serve(
    mut session: Session,
    runtime: Arc<dyn Runtime>,
    sandbox_id: String,
    allowed: Vec<u16>,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(stream) = session.accept().await {
        let Some(request) = request_id(&stream) else {
            let _ = stream.writer.reset(super::spdy::RST_PROTOCOL_ERROR).await;
            continue;
        };
        let kind = stream
            .header("streamtype")
            .unwrap_or("")
            .to_ascii_lowercase();
        let pair = pairs.entry(request.clone()).or_default();
        match kind.as_str() {
            "error" => pair.error = Some(stream),
            "data" => pair.data = Some(stream),
            _ => {
                let _ = stream.writer.reset(super::spdy::RST_PROTOCOL_ERROR).await;
                continue;
            }
        }
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pairs.remove(&request)
        {
            tokio::spawn(forward(
                runtime.clone(),
                sandbox_id.clone(),
                allowed.clone(),
                error,
                data,
            ));
        }
    }
    session.close().await;
}

/// The request a stream belongs to: its `requestid`, or for clients that
/// predate it, one derived from the stream id (error streams come first).
fn request_id(stream: &IncomingStream) -> Option<String> {
    if let Some(id) = stream.header("requestid") {
        return Some(id.to_string());
    }
    let kind = stream.header("streamtype")?.to_ascii_lowercase();
    match kind.as_str() {
        "error" => Some(stream.id.to_string()),
        "data" => stream.id.checked_sub(2).map(|id| id.to_string()),
        _ => None,
    }
}

async fn forward(
    runtime: Arc<dyn Runtime>,
    sandbox_id: String,
    allowed: Vec<u16>,
    error: IncomingStream,
    data: IncomingStream,
) {
    let port = match data.header("port").map(str::parse::<u16>) {
        Some(Ok(port)) if port > 0 => port,
        other => {
            let text = format!("invalid port header {:?}", data.header("port").or(Some("")));
            tracing::debug!(?other, "{text}");
            let _ = error.writer.write(text.as_bytes()).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    if !allowed.is_empty() && !allowed.contains(&port) {
        let text = format!("port {port} was not requested for forwarding");
        let _ = error.writer.write(text.as_bytes()).await;
        let _ = error.writer.close().await;
        let _ = data.writer.close().await;
        return;
    }
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (read_half, write_half) = tokio::io::split(ours);
    let sink: Arc<dyn Sink> = Arc::new(data.writer.clone());
    let out = tokio::spawn(pump_out(read_half, sink));
    let mut incoming = data.data;
    let inbound = tokio::spawn(async move {
        let mut write_half = write_half;
        while let Some(chunk) = incoming.recv().await {
            if write_half.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = write_half.shutdown().await;
    });
    let result = runtime.port_forward(&sandbox_id, port, theirs).await;
    inbound.abort();
    let _ = out.await;
    if let Err(e) = result {
        let text = format!("error forwarding port {port} to pod {sandbox_id}: {e}");
        let _ = error.writer.write(text.as_bytes()).await;
    }
    let _ = error.writer.close().await;
}
