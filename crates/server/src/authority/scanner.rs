//! The sans-I/O half of the `:authority` fix: follows the client's HTTP/2
//! frames, lets every byte outside header blocks pass as it is, and decides
//! for each header block whether it passes unchanged or is re-encoded with
//! `:authority: localhost`.
//!
//! Once one block has been re-encoded, every later block on the connection
//! is re-encoded too: the re-encoded blocks use no dynamic-table entries, so
//! the server's HPACK table no longer follows the client's, and the client's
//! later references to its table must be resolved here.

use std::borrow::Cow;

use loona_hpack::Decoder;
use loona_hpack::encoder::encode_integer_into;

/// What every HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame header length.
const HEADER_LEN: usize = 9;
/// The largest frame payload the server accepts and the size re-encoded
/// frames are split at (SETTINGS_MAX_FRAME_SIZE's default; the server keeps
/// it).
pub(crate) const MAX_FRAME: usize = 16_384;
/// The HPACK table size the server advertises (SETTINGS_HEADER_TABLE_SIZE's
/// default); the client's encoder may use up to this much.
const TABLE_SIZE: usize = 4_096;
/// The largest header block this adapter buffers; a larger one passes
/// unchanged and ends the rewriting (the server then judges the stream).
const MAX_BLOCK: usize = 1 << 20;
/// What replaces an `:authority` the server would refuse.
const LOCALHOST: &[u8] = b"localhost";

const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// A frame header.
#[derive(Clone, Copy)]
struct Frame {
    len: usize,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Frame {
    fn parse(b: &[u8]) -> Frame {
        Frame {
            len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Where the scanner is in the client's byte stream.
#[derive(Clone, Copy)]
enum State {
    /// Checking the connection preface; `usize` bytes matched so far.
    Preface(usize),
    /// At the start of a frame header.
    FrameStart,
    /// Inside the payload of a frame that passes unchanged.
    Payload(usize),
    /// Collecting a header block (HEADERS and its CONTINUATIONs) in `held`.
    Block,
    /// Not (or no longer) following frames: everything passes unchanged.
    Transparent,
}

/// The header block being collected.
struct Block {
    /// The HEADERS frame's header.
    first: Frame,
    /// Its priority fields, if it had them.
    priority: Option<[u8; 5]>,
    /// The original bytes of the block's frames, passed on if it is not
    /// re-encoded.
    raw: Vec<u8>,
    /// The HPACK fragment, concatenated across frames.
    fragment: Vec<u8>,
}

/// Follows one connection's client-to-server bytes.
pub(crate) struct Scanner {
    state: State,
    /// Bytes withheld from the reader: an incomplete frame header or an
    /// incomplete header-block frame.
    held: Vec<u8>,
    block: Block,
    decoder: Decoder<'static>,
    /// Whether blocks are being re-encoded on this connection.
    rewriting: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(TABLE_SIZE);
        Scanner {
            state: State::Preface(0),
            held: Vec::new(),
            block: Block {
                first: Frame {
                    len: 0,
                    kind: 0,
                    flags: 0,
                    stream: 0,
                },
                priority: None,
                raw: Vec::new(),
                fragment: Vec::new(),
            },
            decoder,
            rewriting: false,
        }
    }
}

/// Whether the server accepts `value` as a request's `:authority` (the same
/// parser its HTTP/2 implementation uses).
fn valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

impl Scanner {
    /// Whether bytes are withheld, so the next bytes read must go to
    /// [`Scanner::absorb`] rather than [`Scanner::scan`].
    pub(crate) fn holding(&self) -> bool {
        !self.held.is_empty() || matches!(self.state, State::Block)
    }

    /// Scans bytes the reader is about to receive and returns how many of
    /// them, from the start, pass unchanged. The rest must be handed to
    /// [`Scanner::absorb`] and withheld from the reader. Does not allocate.
    pub(crate) fn scan(&mut self, data: &[u8]) -> usize {
        scan(&mut self.state, data)
    }

    /// Takes bytes withheld from the reader (what [`Scanner::scan`] did not
    /// pass, or what was read while [`Scanner::holding`]) and appends what
    /// the reader may now receive to `out`.
    pub(crate) fn absorb(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.held.extend_from_slice(data);
        let mut start = 0;
        while start < self.held.len() {
            if !matches!(self.state, State::Block) {
                let rest = &self.held[start..];
                let n = scan(&mut self.state, rest);
                out.extend_from_slice(&rest[..n]);
                start += n;
                if n > 0 {
                    continue;
                }
            }
            // At a HEADERS frame or an incomplete frame header, or inside
            // a block.
            let rest = &self.held[start..];
            if rest.len() < HEADER_LEN {
                break;
            }
            let frame = Frame::parse(&rest[..HEADER_LEN]);
            let total = HEADER_LEN + frame.len;
            let in_block = matches!(self.state, State::Block);
            let follows = frame.len <= MAX_FRAME
                && self.block.raw.len() + total <= MAX_BLOCK
                && (!in_block
                    || frame.kind == CONTINUATION && frame.stream == self.block.first.stream);
            if follows && rest.len() < total {
                break;
            }
            let ok = follows
                && if in_block {
                    self.continuation(frame, start)
                } else {
                    self.headers(frame, start)
                };
            if !ok {
                // Not something this adapter follows: pass it on unchanged
                // and let the server judge.
                out.extend_from_slice(&self.block.raw);
                out.extend_from_slice(&self.held[start..]);
                self.block.raw.clear();
                start = self.held.len();
                self.state = State::Transparent;
                break;
            }
            start += total;
            if frame.flags & END_HEADERS == 0 {
                self.state = State::Block;
                continue;
            }
            self.state = State::FrameStart;
            self.finish(out);
        }
        self.held.drain(..start);
    }

    /// Passes everything withheld on unchanged and stops following frames
    /// (the connection ended in the middle of a frame).
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.block.raw);
        out.extend_from_slice(&self.held);
        self.block.raw.clear();
        self.held.clear();
        self.state = State::Transparent;
    }

    /// Starts a block with the HEADERS frame at `held[start..]`; false if
    /// its padding or priority fields do not fit.
    fn headers(&mut self, frame: Frame, start: usize) -> bool {
        let whole = &self.held[start..start + HEADER_LEN + frame.len];
        let mut payload = &whole[HEADER_LEN..];
        let mut pad = 0;
        if frame.flags & PADDED != 0 {
            let Some((&n, tail)) = payload.split_first() else {
                return false;
            };
            pad = usize::from(n);
            payload = tail;
        }
        let mut priority = None;
        if frame.flags & PRIORITY != 0 {
            if payload.len() < 5 {
                return false;
            }
            let mut p = [0; 5];
            p.copy_from_slice(&payload[..5]);
            priority = Some(p);
            payload = &payload[5..];
        }
        if pad > payload.len() {
            return false;
        }
        let fragment = &payload[..payload.len() - pad];
        self.block.first = frame;
        self.block.priority = priority;
        self.block.raw.clear();
        self.block.raw.extend_from_slice(whole);
        self.block.fragment.clear();
        self.block.fragment.extend_from_slice(fragment);
        true
    }

    /// Adds the CONTINUATION frame at `held[start..]` to the block.
    fn continuation(&mut self, frame: Frame, start: usize) -> bool {
        let whole = &self.held[start..start + HEADER_LEN + frame.len];
        self.block.raw.extend_from_slice(whole);
        self.block.fragment.extend_from_slice(&whole[HEADER_LEN..]);
        true
    }

    /// Decodes the complete block and appends it to `out`, unchanged or
    /// re-encoded.
    fn finish(&mut self, out: &mut Vec<u8>) {
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut bad_authority = false;
        let decoded = self.decoder.decode_with_cb(
            &self.block.fragment,
            |name: Cow<[u8]>, value: Cow<[u8]>| {
                if &*name == b":authority" && !valid_authority(&value) {
                    bad_authority = true;
                    fields.push((name.into_owned(), LOCALHOST.to_vec()));
                } else {
                    fields.push((name.into_owned(), value.into_owned()));
                }
            },
        );
        if let Err(e) = decoded {
            tracing::debug!(error = ?e, "HPACK block not understood; passing the connection through unchanged");
            out.extend_from_slice(&self.block.raw);
            self.block.raw.clear();
            self.state = State::Transparent;
            return;
        }
        if !bad_authority && !self.rewriting {
            out.extend_from_slice(&self.block.raw);
            self.block.raw.clear();
            return;
        }
        if bad_authority && !self.rewriting {
            tracing::debug!(
                stream = self.block.first.stream,
                "client sent an :authority that is not a URI authority (grpc-core does on unix: targets); using localhost"
            );
        }
        self.rewriting = true;
        let mut encoded = Vec::with_capacity(self.block.fragment.len() + 16);
        for (name, value) in &fields {
            encode_literal(name, value, &mut encoded);
        }
        frame_block(&self.block.first, self.block.priority, &encoded, out);
        self.block.raw.clear();
    }
}

/// Follows `state` across `data` up to the first byte that must be withheld
/// (a HEADERS frame or an incomplete frame header) and returns its offset.
fn scan(state: &mut State, data: &[u8]) -> usize {
    let mut i = 0;
    while i < data.len() {
        match *state {
            State::Transparent => return data.len(),
            State::Preface(seen) => {
                let n = (PREFACE.len() - seen).min(data.len() - i);
                if data[i..i + n] != PREFACE[seen..seen + n] {
                    *state = State::Transparent;
                    return data.len();
                }
                i += n;
                *state = if seen + n == PREFACE.len() {
                    State::FrameStart
                } else {
                    State::Preface(seen + n)
                };
            }
            State::Payload(rest) => {
                let n = rest.min(data.len() - i);
                i += n;
                *state = if n == rest {
                    State::FrameStart
                } else {
                    State::Payload(rest - n)
                };
            }
            State::FrameStart => {
                if data.len() - i < HEADER_LEN {
                    return i;
                }
                let frame = Frame::parse(&data[i..i + HEADER_LEN]);
                if frame.kind == HEADERS {
                    return i;
                }
                i += HEADER_LEN;
                *state = State::Payload(frame.len);
                if frame.len == 0 {
                    *state = State::FrameStart;
                }
            }
            State::Block => return i,
        }
    }
    i
}

/// Appends a literal header field without indexing, with a literal name and
/// no Huffman coding (RFC 7541 §6.2.2).
fn encode_literal(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(0);
    for s in [name, value] {
        // Writing into a Vec cannot fail.
        let _ = encode_integer_into(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

fn push_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = u32::try_from(len).unwrap_or(0).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// Frames an encoded block as HEADERS (keeping END_STREAM and the priority
/// fields, dropping padding) plus CONTINUATIONs, each at most [`MAX_FRAME`].
fn frame_block(first: &Frame, priority: Option<[u8; 5]>, block: &[u8], out: &mut Vec<u8>) {
    let prio_len = if priority.is_some() { 5 } else { 0 };
    let first_len = block.len().min(MAX_FRAME - prio_len);
    let (head, mut rest) = block.split_at(first_len);
    let mut flags = first.flags & (END_STREAM | PRIORITY);
    if rest.is_empty() {
        flags |= END_HEADERS;
    }
    push_header(out, prio_len + head.len(), HEADERS, flags, first.stream);
    if let Some(p) = priority {
        out.extend_from_slice(&p);
    }
    out.extend_from_slice(head);
    while !rest.is_empty() {
        let n = rest.len().min(MAX_FRAME);
        let (chunk, tail) = rest.split_at(n);
        let flags = if tail.is_empty() { END_HEADERS } else { 0 };
        push_header(out, n, CONTINUATION, flags, first.stream);
        out.extend_from_slice(chunk);
        rest = tail;
    }
}
