//! The reader of a fetched body, which resumes with a range request when the
//! connection breaks or ends early.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use tokio::io::{AsyncRead, ReadBuf};

use crate::fetcher::{Opened, open};
use crate::request::Base;

type OpenFuture = Pin<Box<dyn Future<Output = Result<Opened>> + Send>>;

enum State {
    Streaming(Opened),
    Opening(OpenFuture),
    Done,
}

/// A fetched manifest or blob as an [`AsyncRead`] (and chunk by chunk with
/// [`FetchReader::next_chunk`]). When the body breaks off or ends before
/// the descriptor's size, the reader opens it again from where it stopped,
/// up to the retry policy's attempts in a row without progress. It does not
/// check the digest: wrap it in [`crate::VerifyingReader`].
pub struct FetchReader {
    base: Arc<Base>,
    desc: Descriptor,
    offset: u64,
    size: Option<u64>,
    state: State,
    chunk: Bytes,
    failures: u32,
}

impl FetchReader {
    pub(crate) fn new(
        base: Arc<Base>,
        desc: Descriptor,
        offset: u64,
        opened: Option<Opened>,
    ) -> FetchReader {
        let size = u64::try_from(desc.size).ok();
        FetchReader {
            base,
            desc,
            offset,
            size,
            state: opened.map_or(State::Done, State::Streaming),
            chunk: Bytes::new(),
            failures: 0,
        }
    }

    /// The position in the content of the next byte to be read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The descriptor being read.
    pub fn descriptor(&self) -> &Descriptor {
        &self.desc
    }

    /// The next chunk of the body as the server sent it, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx))
            .await
            .map_err(crate::error::error_from_io)
    }

    /// Starts opening the content again at the current offset, or gives up
    /// with `err` after too many failures without progress.
    fn reopen_or_fail(&mut self, err: Error) -> io::Result<()> {
        self.failures += 1;
        let retry = self.base.session.retry;
        let transient = matches!(
            err.kind(),
            ErrorKind::Unavailable | ErrorKind::DataLoss | ErrorKind::Unknown
        );
        if !transient || self.failures >= retry.attempts.max(1) {
            self.state = State::Done;
            return Err(std::io::Error::from(err));
        }
        tracing::debug!(error = %err, digest = %self.desc.digest, offset = self.offset, "resuming fetch");
        let (base, desc, offset) = (self.base.clone(), self.desc.clone(), self.offset);
        let delay = retry.delay(self.failures);
        self.state = State::Opening(Box::pin(async move {
            tokio::time::sleep(delay).await;
            open(&base, &desc, offset).await
        }));
        Ok(())
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        if !self.chunk.is_empty() {
            let chunk = std::mem::take(&mut self.chunk);
            self.offset += chunk.len() as u64;
            return Poll::Ready(Ok(Some(chunk)));
        }
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(Ok(None)),
                State::Opening(fut) => match ready!(fut.as_mut().poll(cx)) {
                    Ok(opened) => self.state = State::Streaming(opened),
                    Err(e) => self.reopen_or_fail(e)?,
                },
                State::Streaming(opened) => match ready!(opened.stream.as_mut().poll_next(cx)) {
                    Some(Ok(mut bytes)) => {
                        let skip = usize::try_from(opened.skip)
                            .unwrap_or(usize::MAX)
                            .min(bytes.len());
                        opened.skip -= skip as u64;
                        bytes.advance(skip);
                        if !bytes.is_empty() {
                            self.failures = 0;
                            self.offset += bytes.len() as u64;
                            return Poll::Ready(Ok(Some(bytes)));
                        }
                    }
                    Some(Err(e)) => {
                        let err = Error::with_source(
                            ErrorKind::Unavailable,
                            format_args!("reading {} at offset {}", self.desc.digest, self.offset),
                            e,
                        );
                        self.reopen_or_fail(err)?;
                    }
                    None => match self.size {
                        Some(size) if self.offset < size => {
                            let err = Error::new(
                                ErrorKind::DataLoss,
                                format!(
                                    "{}: body ended at {} of {size} bytes",
                                    self.desc.digest, self.offset
                                ),
                            );
                            self.reopen_or_fail(err)?;
                        }
                        _ => self.state = State::Done,
                    },
                },
            }
        }
    }
}

impl AsyncRead for FetchReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.chunk.is_empty() {
            match ready!(this.poll_chunk(cx))? {
                None => return Poll::Ready(Ok(())),
                Some(chunk) => {
                    // poll_chunk counted the whole chunk as read; count only
                    // what is handed out below.
                    this.offset -= chunk.len() as u64;
                    this.chunk = chunk;
                }
            }
        }
        let n = this.chunk.len().min(buf.remaining());
        buf.put_slice(&this.chunk[..n]);
        this.chunk.advance(n);
        this.offset += n as u64;
        Poll::Ready(Ok(()))
    }
}
