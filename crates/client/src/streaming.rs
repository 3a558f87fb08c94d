//! The streaming service (`containerd.services.streaming.v1.Streaming`):
//! a stream the client opens and names, which another service then uses
//! by that name — the Transfer service sends its progress on one.
//!
//! The client sends an `Any` holding a `StreamInit { id }` first, waits for
//! the daemon's acknowledgement, and only then passes the id to the other
//! service, so the daemon never waits for a stream that is not there yet.

use std::time::Duration;

use crated_api::prost::Message;
use crated_api::prost_types::Any;
use crated_api::services::v1::StreamInit;
use crated_api::services::v1::streaming_client::StreamingClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::client::Client;
use crate::error::{Error, Result};

/// The type URL of the first message of a stream, as containerd's
/// `typeurl` names it.
pub const STREAM_INIT_TYPE: &str = "containerd.services.streaming.v1.StreamInit";

/// How long to wait for the daemon to acknowledge a new stream when the
/// client has no request timeout.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One open stream.
#[derive(Debug)]
pub struct Stream {
    id: String,
    sender: mpsc::Sender<Any>,
    incoming: Streaming<Any>,
    client: Client,
}

impl Stream {
    /// The id the stream was opened with; other requests name it by this.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next message from the daemon; `None` once the daemon closed the
    /// stream.
    pub async fn recv(&mut self) -> Result<Option<Any>> {
        self.incoming
            .message()
            .await
            .map_err(|status| self.client.status_error(status))
    }

    /// Sends `message` to the daemon.
    pub async fn send(&self, message: Any) -> Result<()> {
        self.sender
            .send(message)
            .await
            .map_err(|_| Error::protocol(format!("stream {}: the daemon closed it", self.id)))
    }
}

/// Opens stream `id` on `client`'s connection, in its namespace, and waits
/// for the daemon's acknowledgement.
pub async fn open(client: &Client, id: &str) -> Result<Stream> {
    let (sender, receiver) = mpsc::channel(16);
    let init = Any {
        type_url: STREAM_INIT_TYPE.to_string(),
        value: StreamInit { id: id.to_string() }.encode_to_vec(),
    };
    // The daemon reads the first message before it answers the call, so
    // queue it before opening.
    sender
        .send(init)
        .await
        .map_err(|_| Error::protocol("streaming: the request stream closed"))?;
    let request = client.request(ReceiverStream::new(receiver))?;
    let mut grpc = grpc_client!(client, StreamingClient);
    let response = client
        .within_timeout("streaming open", grpc.stream(request))
        .await?;
    let mut stream = Stream {
        id: id.to_string(),
        sender,
        incoming: response.into_inner(),
        client: client.clone(),
    };
    let timeout = client
        .options()
        .request_timeout
        .unwrap_or(DEFAULT_ACK_TIMEOUT);
    match tokio::time::timeout(timeout, stream.recv()).await {
        Ok(Ok(Some(_ack))) => Ok(stream),
        Ok(Ok(None)) => Err(Error::protocol(format!(
            "streaming: the daemon closed stream {id} before acknowledging it"
        ))),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(Error::Timeout {
            operation: "streaming open",
            timeout,
        }),
    }
}
