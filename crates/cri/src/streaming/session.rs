//! A server-side SPDY session: streams the peer opens are answered with
//! SYN_REPLY at once (the Go peer waits for it before sending data) and
//! handed out with a channel of their data; our data goes out through a
//! shared, locked frame writer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, mpsc};

use super::spdy::{self, FLAG_FIN, Frame, FrameReader, FrameWriter, Headers, SpdyError};

/// How many data frames of one stream wait for their reader.
const STREAM_BACKLOG: usize = 32;
/// How long a closing session waits for the peer to hang up.
pub const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// The largest DATA frame crated sends.
const MAX_DATA_FRAME: usize = 32 * 1024;

type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;
type SharedWriter = Arc<Mutex<FrameWriter<BoxedWriter>>>;

/// A stream the peer opened.
pub struct IncomingStream {
    /// Its id.
    pub id: u32,
    /// Its headers (`streamtype`, `port`, `requestid`, …).
    pub headers: Headers,
    /// Its data; the channel ends when the peer half-closes the stream,
    /// resets it or goes away.
    pub data: mpsc::Receiver<Bytes>,
    /// Our side of the stream.
    pub writer: StreamWriter,
}

impl IncomingStream {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        spdy::header(&self.headers, name)
    }
}

/// Sends data on one stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    writer: SharedWriter,
}

impl StreamWriter {
    /// Sends `data`, in frames of at most 32 KiB.
    pub async fn write(&self, data: &[u8]) -> Result<(), SpdyError> {
        for chunk in data.chunks(MAX_DATA_FRAME) {
            let frame = Frame::Data {
                stream_id: self.id,
                flags: 0,
                data: Bytes::copy_from_slice(chunk),
            };
            self.writer.lock().await.write(&frame).await?;
        }
        Ok(())
    }

    /// Half-closes the stream (an empty DATA frame with FIN).
    pub async fn close(&self) -> Result<(), SpdyError> {
        let frame = Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        };
        self.writer.lock().await.write(&frame).await
    }

    /// Aborts the stream.
    pub async fn reset(&self, status: u32) -> Result<(), SpdyError> {
        let frame = Frame::RstStream {
            stream_id: self.id,
            status,
        };
        self.writer.lock().await.write(&frame).await
    }
}

/// One upgraded connection.
pub struct Session {
    writer: SharedWriter,
    incoming: mpsc::Receiver<IncomingStream>,
    reader: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Starts reading frames from `io`.
    pub fn start<IO>(io: IO) -> Result<Session, SpdyError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let boxed: BoxedWriter = Box::new(write);
        let writer: SharedWriter = Arc::new(Mutex::new(FrameWriter::new(boxed)?));
        let (tx, incoming) = mpsc::channel(16);
        let reader = tokio::spawn(read_loop(FrameReader::new(read), writer.clone(), tx));
        Ok(Session {
            writer,
            incoming,
            reader,
        })
    }

    /// The next stream the peer opens; `None` once it went away.
    pub async fn accept(&mut self) -> Option<IncomingStream> {
        self.incoming.recv().await
    }

    /// Says GOAWAY, gives the peer [`CLOSE_GRACE`] to read what was sent
    /// and hang up (as the Go server waits for its streams to close), then
    /// shuts the connection.
    pub async fn close(mut self) {
        let goaway = Frame::GoAway {
            last_good_stream_id: 0,
            status: 0,
        };
        let _ = self.writer.lock().await.write(&goaway).await;
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut self.reader).await;
        self.reader.abort();
        let _ = self.writer.lock().await.shutdown().await;
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    writer: SharedWriter,
    incoming: mpsc::Sender<IncomingStream>,
) {
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut gone_away = false;
    loop {
        let frame = match frames.read().await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "streaming connection ended");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
            } => {
                let writer_for_stream = StreamWriter {
                    id: stream_id,
                    writer: writer.clone(),
                };
                // Ids must be odd (client-initiated) and unused; some clients send
                // their SYN_STREAMs slightly out of order, which is tolerated.
                if gone_away || stream_id % 2 == 0 || !seen.insert(stream_id) {
                    let _ = writer_for_stream.reset(spdy::RST_PROTOCOL_ERROR).await;
                    continue;
                }
                // kubelet replies with no headers; `:status`/`:version` cost
                // nothing and let HTTP-minded SPDY clients accept the reply.
                let reply = Frame::SynReply {
                    stream_id,
                    flags: 0,
                    headers: vec![
                        (":status".into(), "200".into()),
                        (":version".into(), "HTTP/1.1".into()),
                    ],
                };
                if writer.lock().await.write(&reply).await.is_err() {
                    break;
                }
                let (tx, rx) = mpsc::channel(STREAM_BACKLOG);
                if flags & FLAG_FIN == 0 {
                    streams.insert(stream_id, tx);
                }
                let stream = IncomingStream {
                    id: stream_id,
                    headers,
                    data: rx,
                    writer: writer_for_stream.clone(),
                };
                if incoming.send(stream).await.is_err() {
                    streams.remove(&stream_id);
                    let _ = writer_for_stream.reset(spdy::RST_REFUSED_STREAM).await;
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if !data.is_empty() {
                    let delivered = match streams.get(&stream_id) {
                        Some(tx) => tx.send(data).await.is_ok(),
                        None => true,
                    };
                    if !delivered {
                        streams.remove(&stream_id);
                    }
                }
                if flags & FLAG_FIN != 0 {
                    streams.remove(&stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                streams.remove(&stream_id);
            }
            Frame::Ping { id } if id % 2 == 1 => {
                let echoed = writer.lock().await.write(&Frame::Ping { id }).await;
                if echoed.is_err() {
                    break;
                }
            }
            Frame::GoAway { .. } => gone_away = true,
            Frame::Headers {
                stream_id, flags, ..
            } if flags & FLAG_FIN != 0 => {
                streams.remove(&stream_id);
            }
            _ => {}
        }
    }
}
