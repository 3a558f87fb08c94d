//! A SPDY/3.1 client of the streaming protocols, as kubectl's is: upgrade
//! a one-time URL, open typed streams, send to them and collect what the
//! server sends back. Tests and the CLI drive the streaming server with it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use crated_core::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use super::spdy::{FLAG_FIN, Frame, FrameReader, FrameWriter, Headers};

/// The server's answer to an upgrade request.
#[derive(Debug)]
pub struct Upgraded {
    /// The HTTP status (101 when upgraded).
    pub status: u16,
    /// The response head, for messages.
    pub head: String,
    /// The connection, upgraded when `status` is 101.
    pub conn: TcpStream,
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::unavailable(format!("{what}: {e}"))
}

/// Sends the HTTP/1.1 upgrade of `url` to `upgrade_to` offering
/// `protocols` (`X-Stream-Protocol-Version`), and reads the response head.
pub async fn upgrade(
    url: &str,
    protocols: &[&str],
    upgrade_to: &str,
) -> crated_core::Result<Upgraded> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::invalid_argument(format!("streaming URL {url:?} is not http://")))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = TcpStream::connect(host)
        .await
        .map_err(io_err("connecting to the streaming server"))?;
    let mut request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: {upgrade_to}\r\nContent-Length: 0\r\n"
    );
    for p in protocols {
        request.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(io_err("sending the upgrade request"))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte)
            .await
            .map_err(io_err("reading the upgrade response"))?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::unknown(format!("unreadable upgrade response {head:?}")))?;
    Ok(Upgraded { status, head, conn })
}

/// A SPDY session from the client's side.
pub struct SpdyClient {
    reader: FrameReader<ReadHalf<TcpStream>>,
    writer: FrameWriter<WriteHalf<TcpStream>>,
    received: HashMap<u32, Vec<u8>>,
    finished: Vec<u32>,
    replied: Vec<u32>,
}

fn spdy_err(e: super::spdy::SpdyError) -> Error {
    Error::unavailable(format!("SPDY session: {e}"))
}

impl SpdyClient {
    /// A session over an upgraded connection.
    pub fn new(conn: TcpStream) -> crated_core::Result<SpdyClient> {
        let (r, w) = tokio::io::split(conn);
        Ok(SpdyClient {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w).map_err(spdy_err)?,
            received: HashMap::new(),
            finished: Vec::new(),
            replied: Vec::new(),
        })
    }

    /// Opens stream `id` (odd, increasing) with `headers` (`streamtype`, …).
    pub async fn open(&mut self, id: u32, headers: &[(&str, &str)]) -> crated_core::Result<()> {
        let headers: Headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.writer
            .write(&Frame::SynStream {
                stream_id: id,
                flags: 0,
                headers,
            })
            .await
            .map_err(spdy_err)
    }

    /// Sends `data` on stream `id`; `fin` half-closes it.
    pub async fn send(&mut self, id: u32, data: &[u8], fin: bool) -> crated_core::Result<()> {
        let frame = Frame::Data {
            stream_id: id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: Bytes::copy_from_slice(data),
        };
        self.writer.write(&frame).await.map_err(spdy_err)
    }

    /// Reads until the server has half-closed every stream in `ids`; a
    /// reset stream, a closed connection or `quiet` without a frame is an
    /// error.
    pub async fn until_finished(
        &mut self,
        ids: &[u32],
        quiet: Duration,
    ) -> crated_core::Result<()> {
        while !ids.iter().all(|id| self.finished.contains(id)) {
            let frame = tokio::time::timeout(quiet, self.reader.read())
                .await
                .map_err(|_| {
                    Error::new(
                        crated_core::ErrorKind::DeadlineExceeded,
                        "the streaming server went quiet",
                    )
                })?
                .map_err(spdy_err)?
                .ok_or_else(|| {
                    Error::unavailable("the streaming server closed the connection early")
                })?;
            match frame {
                Frame::SynReply { stream_id, .. } => self.replied.push(stream_id),
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    if !self.replied.contains(&stream_id) {
                        return Err(Error::unknown(format!(
                            "data on stream {stream_id} before its SYN_REPLY"
                        )));
                    }
                    self.received
                        .entry(stream_id)
                        .or_default()
                        .extend_from_slice(&data);
                    if flags & FLAG_FIN != 0 {
                        self.finished.push(stream_id);
                    }
                }
                Frame::RstStream { stream_id, status } => {
                    return Err(Error::unavailable(format!(
                        "stream {stream_id} reset with status {status}"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// What stream `id` received, as text.
    pub fn text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.received.get(&id).map_or(&[][..], Vec::as_slice)).into_owned()
    }
}
