//! Hand-built HTTP/2 frames through the adapter.

use std::pin::Pin;
use std::task::{Context, Poll};

use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::AuthorityFix;
use super::scanner::MAX_FRAME;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const BAD: &[u8] = b"run%2Fcrated%2Fcrated.sock";

/// Serves `data` at most `chunk` bytes per read.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = this
            .chunk
            .min(buf.remaining())
            .min(this.data.len() - this.pos);
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// What the server reads when the client sends `data`, `chunk` bytes at a
/// time, through the adapter.
fn through(data: &[u8], chunk: usize) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut fix = AuthorityFix::new(Chunked {
            data: data.to_vec(),
            pos: 0,
            chunk,
        });
        let mut out = Vec::new();
        let mut small = [0u8; 5];
        // Read part of it through a tiny buffer, the rest at once.
        let n = fix.read(&mut small).await.unwrap();
        out.extend_from_slice(&small[..n]);
        fix.read_to_end(&mut out).await.unwrap();
        out
    })
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = len[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn settings() -> Vec<u8> {
    frame(0x4, 0, 0, &[0, 0x3, 0, 0, 0, 100])
}

fn data(stream: u32, payload: &[u8]) -> Vec<u8> {
    frame(0x0, 0x1, stream, payload)
}

fn request(authority: &[u8]) -> Fields {
    vec![
        (b":method".to_vec(), b"POST".to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
        (
            b":path".to_vec(),
            b"/containerd.services.version.v1.Version/Version".to_vec(),
        ),
        (b":authority".to_vec(), authority.to_vec()),
        (b"te".to_vec(), b"trailers".to_vec()),
        (b"content-type".to_vec(), b"application/grpc".to_vec()),
    ]
}

fn encode(enc: &mut Encoder<'_>, headers: &Fields) -> Vec<u8> {
    enc.encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())))
}

/// A parsed frame: kind, flags, stream, payload.
type Parsed = (u8, u8, u32, Vec<u8>);
/// Header fields, name and value.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn frames(mut bytes: &[u8]) -> Vec<Parsed> {
    assert!(bytes.starts_with(PREFACE));
    bytes = &bytes[PREFACE.len()..];
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        out.push((bytes[3], bytes[4], stream, bytes[9..9 + len].to_vec()));
        bytes = &bytes[9 + len..];
    }
    out
}

/// Decodes each header block of `frames` as the server would (a fresh
/// decoder following the whole connection), returning (stream, flags of
/// the HEADERS frame, headers).
fn blocks(frames: &[Parsed]) -> Vec<(u32, u8, Fields)> {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    let mut fragment = Vec::new();
    let mut first = None;
    for (kind, flags, stream, payload) in frames {
        match kind {
            0x1 => {
                assert_eq!(flags & 0x8, 0, "re-encoded frames carry no padding");
                let skip = if flags & 0x20 != 0 { 5 } else { 0 };
                fragment = payload[skip..].to_vec();
                first = Some((*stream, *flags));
            }
            0x9 => fragment.extend_from_slice(payload),
            _ => continue,
        }
        assert!(payload.len() <= MAX_FRAME);
        if flags & 0x4 != 0 {
            let (s, f) = first.take().unwrap();
            out.push((s, f, dec.decode(&fragment).unwrap()));
        }
    }
    out
}

#[test]
fn valid_connections_pass_byte_for_byte() {
    let mut enc = Encoder::new();
    let mut conn = PREFACE.to_vec();
    conn.extend(settings());
    let block = encode(&mut enc, &request(b"localhost"));
    conn.extend(frame(0x1, 0x4, 1, &block));
    conn.extend(data(1, &[0; 40_000]));
    let block = encode(&mut enc, &request(b"localhost"));
    conn.extend(frame(0x1, 0x4, 3, &block));
    conn.extend(data(3, b"tail"));
    for chunk in [1, 2, 9, 10, 100, 16_393, usize::MAX] {
        assert_eq!(through(&conn, chunk), conn, "chunk size {chunk}");
    }
}

#[test]
fn not_http2_passes_unchanged() {
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3);
    assert_eq!(through(&garbage, 3), garbage);
}

const PATH: &[u8] = b"/containerd.services.version.v1.Version/Version";

/// A request block as grpc-core writes one: the first adds `:authority` and
/// `:path` to the dynamic table (literal with incremental indexing), later
/// ones refer to those entries by index.
fn grpc_core_block(first: bool) -> Vec<u8> {
    // :method POST and :scheme http from the static table.
    let mut b = vec![0x83, 0x86];
    if first {
        b.push(0x41); // :authority (static name 1), value indexed.
        b.push(BAD.len() as u8);
        b.extend_from_slice(BAD);
        b.push(0x44); // :path (static name 4), value indexed.
        b.push(PATH.len() as u8);
        b.extend_from_slice(PATH);
    } else {
        b.push(0x80 | 63); // :authority, the older dynamic entry.
        b.push(0x80 | 62); // :path, the newest.
    }
    b
}

#[test]
fn bad_authority_is_replaced_also_through_the_dynamic_table() {
    let mut conn = PREFACE.to_vec();
    conn.extend(settings());
    conn.extend(frame(0x1, 0x4, 1, &grpc_core_block(true)));
    conn.extend(data(1, b"one"));
    conn.extend(frame(0x1, 0x4, 3, &grpc_core_block(false)));
    conn.extend(data(3, b"two"));
    let want = vec![
        (b":method".to_vec(), b"POST".to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
        (b":authority".to_vec(), b"localhost".to_vec()),
        (b":path".to_vec(), PATH.to_vec()),
    ];
    for chunk in [1, 7, usize::MAX] {
        let out = frames(&through(&conn, chunk));
        let got = blocks(&out);
        assert_eq!(got.len(), 2);
        for (i, (stream, _, headers)) in got.iter().enumerate() {
            assert_eq!(*stream, [1, 3][i]);
            assert_eq!(headers, &want);
        }
        let payloads: Vec<_> = out
            .iter()
            .filter(|f| f.0 == 0x0)
            .map(|f| f.3.clone())
            .collect();
        assert_eq!(payloads, vec![b"one".to_vec(), b"two".to_vec()]);
    }
}

#[test]
fn padding_priority_and_continuation_are_handled() {
    let mut enc = Encoder::new();
    let mut headers = request(BAD);
    headers.push((b"x-big".to_vec(), vec![b'v'; 20_000]));
    let block = encode(&mut enc, &headers);
    let (a, rest) = block.split_at(100);
    let (b, c) = rest.split_at(MAX_FRAME);
    // HEADERS: PADDED | PRIORITY | END_STREAM, pad length 3, priority fields.
    let mut payload = vec![3];
    payload.extend_from_slice(&[0, 0, 0, 0, 15]);
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    let mut conn = PREFACE.to_vec();
    conn.extend(frame(0x1, 0x8 | 0x20 | 0x1, 5, &payload));
    conn.extend(frame(0x9, 0, 5, b));
    conn.extend(frame(0x9, 0x4, 5, c));
    conn.extend(settings());
    for chunk in [3, 4096, usize::MAX] {
        let out = frames(&through(&conn, chunk));
        let got = blocks(&out);
        assert_eq!(got.len(), 1);
        let (stream, flags, decoded) = &got[0];
        assert_eq!(*stream, 5);
        assert_eq!(flags & 0x1, 0x1, "END_STREAM kept");
        assert_eq!(flags & 0x20, 0x20, "PRIORITY kept");
        let mut want = request(b"localhost");
        want.push((b"x-big".to_vec(), vec![b'v'; 20_000]));
        assert_eq!(decoded, &want);
        let first = &out[0];
        assert_eq!(&first.3[..5], &[0, 0, 0, 0, 15], "priority fields kept");
        assert!(out.iter().filter(|f| f.0 == 0x9).count() >= 1);
        assert_eq!(out.last().unwrap().0, 0x4, "SETTINGS after the block");
    }
}

#[test]
fn undecodable_blocks_pass_unchanged() {
    let mut conn = PREFACE.to_vec();
    // Index 200 is in neither table.
    conn.extend(frame(0x1, 0x4, 1, &[0x80 | 0x7f, 200 - 127]));
    conn.extend(data(1, b"x"));
    assert_eq!(through(&conn, 2), conn);
}

/// The real HTTP/2 server (h2) accepts a request with a grpc-core style
/// `:authority` through the adapter.
#[test]
fn h2_server_accepts_the_rewritten_request() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut conn = h2::server::handshake(AuthorityFix::new(server))
                .await
                .unwrap();
            let (req, _respond) = conn.accept().await.unwrap().unwrap();
            req.uri().authority().map(|a| a.to_string())
        });
        let mut enc = Encoder::new();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 0, &[]));
        bytes.extend(frame(0x1, 0x4 | 0x1, 1, &encode(&mut enc, &request(BAD))));
        tokio::io::AsyncWriteExt::write_all(&mut client, &bytes)
            .await
            .unwrap();
        let authority = server.await.unwrap();
        assert_eq!(authority.as_deref(), Some("localhost"));
    });
}
