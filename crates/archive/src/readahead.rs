//! Reading the layer stream on a helper thread: decompression, hashing and
//! the size bound run there while the caller's thread creates files, so the
//! two overlap.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use crated_core::{Error, ErrorKind, Result};
use sha2::{Digest, Sha256};

use crate::error::io_error;

/// Size of one chunk handed to the consumer.
const CHUNK: usize = 1024 * 1024;
/// Chunks in flight between the threads.
const DEPTH: usize = 4;

/// What the reading thread saw of the whole stream.
#[derive(Debug)]
pub(crate) struct StreamSummary {
    /// `sha256:<hex>` of every byte read.
    pub digest: String,
    /// Number of bytes read.
    pub size: u64,
}

/// Outcome of the reading thread: `Ok(None)` when the consumer hung up
/// before the end.
pub(crate) type ProducerResult = Result<Option<StreamSummary>>;

/// Starts reading `reader` on a thread of `scope`; the returned reader
/// yields the same bytes. The stream is refused once it exceeds
/// `limit` bytes.
pub(crate) fn spawn<'scope, 'env, R: Read + Send + 'env>(
    scope: &'scope Scope<'scope, 'env>,
    reader: R,
    limit: Option<u64>,
) -> Result<(ChannelReader, ScopedJoinHandle<'scope, ProducerResult>)> {
    let (tx, rx) = sync_channel(DEPTH);
    let (recycle_tx, recycle_rx) = sync_channel(DEPTH + 2);
    let handle = std::thread::Builder::new()
        .name("layer-reader".into())
        .spawn_scoped(scope, move || produce(reader, tx, recycle_rx, limit))
        .map_err(|e| io_error("starting the layer reader thread", e))?;
    let consumer = ChannelReader {
        rx,
        recycle: recycle_tx,
        current: Vec::new(),
        pos: 0,
    };
    Ok((consumer, handle))
}

type Chunk = io::Result<Vec<u8>>;

fn produce<R: Read>(
    mut reader: R,
    tx: SyncSender<Chunk>,
    recycle: Receiver<Vec<u8>>,
    limit: Option<u64>,
) -> ProducerResult {
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    loop {
        let mut buf = match recycle.try_recv() {
            Ok(buf) => buf,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(CHUNK),
        };
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let mut eof = false;
        while filled < CHUNK / 2 {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let msg = e.to_string();
                    // The consumer may be gone already; the error is ours.
                    let _ = tx.send(Err(io::Error::new(e.kind(), msg)));
                    return Err(io_error("reading layer stream", e));
                }
            }
        }
        total += filled as u64;
        if let Some(max) = limit
            && total > max
        {
            let err = Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "layer stream exceeds the limit of {max} uncompressed bytes \
                     (decompression bomb?); raise the apply size limit if the layer is legitimate"
                ),
            );
            let _ = tx.send(Err(io::Error::from(err.clone())));
            return Err(err);
        }
        hasher.update(&buf[..filled]);
        buf.truncate(filled);
        if filled > 0 && tx.send(Ok(buf)).is_err() {
            return Ok(None);
        }
        if eof {
            return Ok(Some(StreamSummary {
                digest: crate::digest::format(hasher),
                size: total,
            }));
        }
    }
}

/// The consumer side: a `Read` over the chunks the thread produces.
pub(crate) struct ChannelReader {
    rx: Receiver<Chunk>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.current.len() {
            let next = match self.rx.recv() {
                Ok(chunk) => chunk?,
                Err(_) => return Ok(0),
            };
            let done = std::mem::replace(&mut self.current, next);
            self.pos = 0;
            if done.capacity() > 0 {
                let _ = self.recycle.try_send(done);
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn passes_bytes_and_digests() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 256) as u8).collect();
        std::thread::scope(|s| {
            let (mut r, h) = spawn(s, Cursor::new(&data), None).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
            let summary = h.join().unwrap().unwrap().unwrap();
            assert_eq!(summary.size, data.len() as u64);
            let mut hasher = Sha256::new();
            hasher.update(&data);
            assert_eq!(summary.digest, crate::digest::format(hasher));
        });
    }

    #[test]
    fn enforces_limit() {
        let data = vec![0u8; 3 * CHUNK];
        std::thread::scope(|s| {
            let (mut r, h) = spawn(s, Cursor::new(&data), Some(CHUNK as u64)).unwrap();
            let mut out = Vec::new();
            assert!(r.read_to_end(&mut out).is_err());
            assert!(out.len() <= CHUNK);
            let err = h.join().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ResourceExhausted);
        });
    }

    #[test]
    fn consumer_hangup_stops_producer() {
        let data = vec![0u8; 20 * CHUNK];
        std::thread::scope(|s| {
            let (r, h) = spawn(s, Cursor::new(&data), None).unwrap();
            drop(r);
            assert!(h.join().unwrap().unwrap().is_none());
        });
    }
}
