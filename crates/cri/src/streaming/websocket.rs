//! Exec and attach over WebSocket (the `v5.channel.k8s.io` family): every
//! binary message starts with its channel (0 stdin, 1 stdout, 2 stderr,
//! 3 error, 4 resize); on v5 a message `[255, n]` closes channel `n`.
//! As kubelet's server does, each output channel is announced with an
//! empty message when the session opens.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::StreamIo;
use super::remotecommand::{Endpoints, Outcome, Sink, Version, Wanted, run_session};

/// The subprotocols offered over WebSocket, newest first.
pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// How long the end of a session waits for the close to be sent.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// One output channel.
struct Channel {
    id: u8,
    v5: bool,
    out: mpsc::Sender<Message>,
}

#[async_trait]
impl Sink for Channel {
    async fn send(&self, data: &[u8]) -> Result<(), ()> {
        let mut frame = Vec::with_capacity(data.len() + 1);
        frame.push(self.id);
        frame.extend_from_slice(data);
        self.out
            .send(Message::Binary(frame.into()))
            .await
            .map_err(drop)
    }

    async fn finish(&self) {
        if self.v5 {
            let _ = self
                .out
                .send(Message::Binary(vec![CLOSE, self.id].into()))
                .await;
        }
    }
}

/// Serves one exec or attach session on an accepted WebSocket.
pub async fn serve<IO, F, Fut>(ws: WebSocketStream<IO>, version: Version, wanted: Wanted, run: F)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(StreamIo) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let (mut to_client, mut from_client) = ws.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(32);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if to_client.send(message).await.is_err() {
                return;
            }
        }
        let _ = to_client.send(Message::Close(None)).await;
        let _ = to_client.close().await;
    });

    let v5 = version >= Version::V5;
    let channel = |id: u8| -> Arc<dyn Sink> {
        Arc::new(Channel {
            id,
            v5,
            out: out.clone(),
        })
    };
    let mut endpoints = Endpoints {
        error: Some(channel(ERROR)),
        ..Endpoints::default()
    };
    if wanted.stdout {
        endpoints.stdout = Some(channel(STDOUT));
    }
    if wanted.stderr && !wanted.tty {
        endpoints.stderr = Some(channel(STDERR));
    }
    for id in [STDOUT, STDERR, ERROR] {
        let announced = match id {
            STDOUT => endpoints.stdout.is_some(),
            STDERR => endpoints.stderr.is_some(),
            _ => true,
        };
        if announced {
            let _ = out.send(Message::Binary(vec![id].into())).await;
        }
    }
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(32);
    let (resize_tx, resize_rx) = mpsc::channel::<Bytes>(8);
    if wanted.stdin {
        endpoints.stdin = Some(stdin_rx);
    }
    if wanted.tty {
        endpoints.resize = Some(resize_rx);
    }
    let reader = tokio::spawn(async move {
        let mut stdin = Some(stdin_tx);
        while let Some(Ok(message)) = from_client.next().await {
            let data = match message {
                Message::Binary(data) => data,
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&id, payload)) = data.split_first() else {
                continue;
            };
            match id {
                STDIN => {
                    if let Some(tx) = &stdin
                        && tx.send(Bytes::copy_from_slice(payload)).await.is_err()
                    {
                        stdin = None;
                    }
                }
                RESIZE => {
                    let _ = resize_tx.send(Bytes::copy_from_slice(payload)).await;
                }
                CLOSE if v5 && payload.first() == Some(&STDIN) => stdin = None,
                _ => {}
            }
        }
    });

    run_session(endpoints, version, run).await;
    reader.abort();
    drop(out);
    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
}
