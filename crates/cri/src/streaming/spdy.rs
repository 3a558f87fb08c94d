//! SPDY/3.1 framing as Kubernetes streaming uses it (the subset the Go
//! `spdystream` peer speaks): control frames SYN_STREAM, SYN_REPLY,
//! RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS and WINDOW_UPDATE, and DATA
//! frames. Header blocks are zlib-compressed with one context per
//! direction for the whole session, primed with the SPDY/3 dictionary.
//! `spdystream` does no flow control, so WINDOW_UPDATE is read and ignored
//! and never sent.

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::dictionary::spdy3_dictionary;

/// The SPDY version in every control frame.
const VERSION: u16 = 3;
/// The largest header block crated accepts once inflated.
const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Control frame types.
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// `FLAG_FIN` on control and data frames.
pub const FLAG_FIN: u8 = 0x01;

/// RST_STREAM status: the peer broke the protocol.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: the stream was refused.
pub const RST_REFUSED_STREAM: u32 = 3;

/// Header name/value pairs; names are lower case on the wire.
pub type Headers = Vec<(String, String)>;

/// The value of header `name` (case-insensitive), if present.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A new stream from the peer.
    SynStream {
        /// The stream.
        stream_id: u32,
        /// Flags (`FLAG_FIN`, unidirectional).
        flags: u8,
        /// Its headers.
        headers: Headers,
    },
    /// The answer to a SYN_STREAM.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// Flags.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// A stream was aborted.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why.
        status: u32,
    },
    /// Session settings (ignored).
    Settings,
    /// A ping, echoed back when the peer started it.
    Ping {
        /// Its id.
        id: u32,
    },
    /// The peer is closing the session.
    GoAway {
        /// The last stream the sender processed.
        last_good_stream_id: u32,
        /// Why.
        status: u32,
    },
    /// More headers on a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// Flags.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// Flow-control credit (ignored: the peer does no flow control).
    WindowUpdate {
        /// The stream.
        stream_id: u32,
        /// The credit.
        delta: u32,
    },
    /// Stream data.
    Data {
        /// The stream.
        stream_id: u32,
        /// Flags (`FLAG_FIN`).
        flags: u8,
        /// The bytes.
        data: Bytes,
    },
    /// A control frame of a type this codec does not know (skipped).
    Unknown {
        /// The type.
        kind: u16,
    },
}

/// A malformed or unreadable frame.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// The connection failed.
    #[error("SPDY connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something SPDY/3 does not allow.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
}

fn protocol(msg: impl Into<String>) -> SpdyError {
    SpdyError::Protocol(msg.into())
}

/// Reads frames from the peer.
pub struct FrameReader<R> {
    io: R,
    inflater: Decompress,
    dictionary: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader over `io`.
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            inflater: Decompress::new(true),
            dictionary: spdy3_dictionary(),
        }
    }

    /// The next frame, or `None` when the peer closed the connection
    /// between frames.
    pub async fn read(&mut self) -> Result<Option<Frame>, SpdyError> {
        let mut head = [0u8; 8];
        match self.io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let flags = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let mut body = BytesMut::zeroed(length);
        self.io.read_exact(&mut body).await?;
        let body = body.freeze();
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: body,
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(protocol(format!(
                "SPDY version {version} is not supported (want 3)"
            )));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        self.control(kind, flags, &body).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, body: &[u8]) -> Result<Frame, SpdyError> {
        let word = |at: usize| -> Result<u32, SpdyError> {
            body.get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| protocol(format!("control frame type {kind} is too short")))
        };
        Ok(match kind {
            SYN_STREAM => {
                let stream_id = word(0)? & 0x7fff_ffff;
                let block = body
                    .get(10..)
                    .ok_or_else(|| protocol("SYN_STREAM is too short"))?;
                Frame::SynStream {
                    stream_id,
                    flags,
                    headers: self.headers(block)?,
                }
            }
            SYN_REPLY | HEADERS => {
                let stream_id = word(0)? & 0x7fff_ffff;
                let headers = self.headers(&body[4..])?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            RST_STREAM => Frame::RstStream {
                stream_id: word(0)? & 0x7fff_ffff,
                status: word(4)?,
            },
            SETTINGS => Frame::Settings,
            PING => Frame::Ping { id: word(0)? },
            GOAWAY => Frame::GoAway {
                last_good_stream_id: word(0)? & 0x7fff_ffff,
                status: word(4).unwrap_or(0),
            },
            WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id: word(0)? & 0x7fff_ffff,
                delta: word(4)? & 0x7fff_ffff,
            },
            other => Frame::Unknown { kind: other },
        })
    }

    fn headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let raw = self.inflate(block)?;
        decode_headers(&raw)
    }

    fn inflate(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 256);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len().max(1024));
            }
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status =
                self.inflater
                    .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.inflater.total_in() - in_before) as usize;
            let produced = self.inflater.total_out() - out_before;
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflater
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| protocol(format!("header dictionary: {e}")))?;
                    continue;
                }
                Err(e) => return Err(protocol(format!("inflating a header block: {e}"))),
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(protocol("header block larger than 256 KiB"));
            }
            let output_full = out.len() == out.capacity();
            if pos >= input.len() && !output_full {
                break;
            }
            if produced == 0
                && !output_full
                && pos < input.len()
                && in_before == self.inflater.total_in()
            {
                return Err(protocol("header block does not inflate"));
            }
        }
        Ok(out)
    }
}

/// Parses an inflated header block: a count, then length-prefixed names
/// and values; a value holding NULs is several values.
pub fn decode_headers(raw: &[u8]) -> Result<Headers, SpdyError> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        let slice = raw
            .get(at..at + n)
            .ok_or_else(|| protocol("truncated header block"))?;
        at += n;
        Ok(slice)
    };
    let count_bytes = take(4)?;
    let count = u32::from_be_bytes([
        count_bytes[0],
        count_bytes[1],
        count_bytes[2],
        count_bytes[3],
    ]);
    let mut headers = Vec::new();
    for _ in 0..count {
        let mut field = || -> Result<String, SpdyError> {
            let len = take(4)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let bytes = take(len)?;
            String::from_utf8(bytes.to_vec()).map_err(|_| protocol("header is not UTF-8"))
        };
        let name = field()?.to_ascii_lowercase();
        let value = field()?;
        for part in value.split('\0') {
            headers.push((name.clone(), part.to_string()));
        }
    }
    Ok(headers)
}

/// Encodes headers as an uncompressed SPDY/3 header block.
pub fn encode_headers(headers: &Headers) -> Vec<u8> {
    let mut raw = Vec::new();
    raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
        raw.extend_from_slice(value.as_bytes());
    }
    raw
}

/// Writes frames to the peer.
pub struct FrameWriter<W> {
    io: W,
    deflater: Compress,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer over `io`.
    pub fn new(io: W) -> Result<Self, SpdyError> {
        let mut deflater = Compress::new(Compression::default(), true);
        deflater
            .set_dictionary(&spdy3_dictionary())
            .map_err(|e| protocol(format!("header dictionary: {e}")))?;
        Ok(FrameWriter { io, deflater })
    }

    /// Writes `frame` and flushes it.
    pub async fn write(&mut self, frame: &Frame) -> Result<(), SpdyError> {
        let bytes = self.encode(frame)?;
        self.io.write_all(&bytes).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Shuts the connection's write side.
    pub async fn shutdown(&mut self) -> Result<(), SpdyError> {
        Ok(self.io.shutdown().await?)
    }

    fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, SpdyError> {
        let (kind, flags, body) = match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                push_flags_len(&mut out, *flags, data.len())?;
                out.extend_from_slice(data);
                return Ok(out);
            }
            Frame::SynStream {
                stream_id,
                flags,
                headers,
            } => {
                let mut body = Vec::new();
                body.extend_from_slice(&stream_id.to_be_bytes());
                body.extend_from_slice(&0u32.to_be_bytes());
                body.extend_from_slice(&[0, 0]);
                body.extend_from_slice(&self.deflate(headers)?);
                (SYN_STREAM, *flags, body)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let mut body = stream_id.to_be_bytes().to_vec();
                body.extend_from_slice(&self.deflate(headers)?);
                (kind, *flags, body)
            }
            Frame::RstStream { stream_id, status } => {
                (RST_STREAM, 0, words(&[*stream_id, *status]))
            }
            Frame::Ping { id } => (PING, 0, words(&[*id])),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => (GOAWAY, 0, words(&[*last_good_stream_id, *status])),
            Frame::WindowUpdate { stream_id, delta } => {
                (WINDOW_UPDATE, 0, words(&[*stream_id, *delta]))
            }
            Frame::Settings => (SETTINGS, 0, words(&[0])),
            Frame::Unknown { kind } => {
                return Err(protocol(format!("cannot send unknown frame type {kind}")));
            }
        };
        let mut out = Vec::with_capacity(8 + body.len());
        out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        push_flags_len(&mut out, flags, body.len())?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn deflate(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let raw = encode_headers(headers);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len().max(256));
            }
            let before = self.deflater.total_in();
            self.deflater
                .compress_vec(&raw[pos..], &mut out, FlushCompress::Sync)
                .map_err(|e| protocol(format!("deflating a header block: {e}")))?;
            pos += (self.deflater.total_in() - before) as usize;
            if pos >= raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn push_flags_len(out: &mut Vec<u8>, flags: u8, len: usize) -> Result<(), SpdyError> {
    if len > 0x00ff_ffff {
        return Err(protocol(format!(
            "frame of {len} bytes exceeds SPDY's 16 MiB"
        )));
    }
    out.push(flags);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn frames_round_trip_with_one_compression_context_per_direction() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut writer = FrameWriter::new(a).unwrap();
        let mut reader = FrameReader::new(b);
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                flags: 0,
                headers: hdrs(&[("streamtype", "error")]),
            },
            Frame::SynStream {
                stream_id: 3,
                flags: 0,
                headers: hdrs(&[("streamtype", "stdout"), ("port", "80")]),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: FLAG_FIN,
                headers: Vec::new(),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Ping { id: 7 },
            Frame::RstStream {
                stream_id: 5,
                status: RST_REFUSED_STREAM,
            },
            Frame::GoAway {
                last_good_stream_id: 3,
                status: 0,
            },
        ];
        for f in &frames {
            writer.write(f).await.unwrap();
        }
        drop(writer);
        for f in &frames {
            assert_eq!(&reader.read().await.unwrap().unwrap(), f);
        }
        assert_eq!(reader.read().await.unwrap(), None);
    }

    #[tokio::test]
    async fn header_blocks_start_with_the_spdy3_dictionary_id() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut writer = FrameWriter::new(a).unwrap();
        writer
            .write(&Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: hdrs(&[("a", "b")]),
            })
            .await
            .unwrap();
        let mut buf = [0u8; 18];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[13] & 0x20, 0x20, "FDICT is set in the zlib header");
        assert_eq!(&buf[14..18], &[0xe3, 0xc6, 0xa7, 0xc2]);
    }

    #[test]
    fn values_with_nuls_are_several_values() {
        let raw = encode_headers(&hdrs(&[("X-Stream-Protocol-Version", "v4\0v3")]));
        let decoded = decode_headers(&raw).unwrap();
        assert_eq!(
            decoded,
            hdrs(&[
                ("x-stream-protocol-version", "v4"),
                ("x-stream-protocol-version", "v3")
            ])
        );
        assert_eq!(header(&decoded, "X-STREAM-PROTOCOL-VERSION"), Some("v4"));
        assert!(decode_headers(&raw[..raw.len() - 1]).is_err());
    }

    #[tokio::test]
    async fn a_wrong_version_is_a_protocol_error() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&[0x80, 0x02, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1])
            .await
            .unwrap();
        let err = FrameReader::new(b).read().await.unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
