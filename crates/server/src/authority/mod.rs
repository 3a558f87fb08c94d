//! Lets clients built on grpc-core (Python grpcio, C++, Ruby, C#) connect
//! with default options.
//!
//! On `unix:` targets grpc-core sends `:authority` = the percent-encoded
//! socket path (`run%2Fcrated%2Fcrated.sock`), which is not a URI authority;
//! the HTTP/2 server (h2) resets such a stream with PROTOCOL_ERROR, where
//! containerd's Go server accepts it. [`AuthorityFix`] wraps each accepted
//! connection: its read side follows the client's HTTP/2 frames and, in
//! header blocks, replaces an `:authority` the server would refuse with
//! `localhost`. Every other byte passes unchanged (frames other than
//! HEADERS/CONTINUATION are not buffered), and anything it does not follow
//! passes unchanged so the server reports the error itself.
//!
//! HPACK decoding uses `loona-hpack` (the maintained fork of the `hpack`
//! crate, with its fuzzing fixes; h2 keeps its own codec private);
//! re-encoding writes literals without indexing, a few lines here.

mod scanner;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use scanner::{MAX_FRAME, Scanner};

/// A connection whose client-to-server HTTP/2 header blocks get a valid
/// `:authority`.
pub struct AuthorityFix<S> {
    inner: S,
    scanner: Scanner,
    /// Bytes ready for the reader, from `pending_pos` on.
    pending: Vec<u8>,
    pending_pos: usize,
    /// Where bytes are read while the scanner withholds them.
    scratch: Box<[u8]>,
}

impl<S> AuthorityFix<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            scanner: Scanner::default(),
            pending: Vec::new(),
            pending_pos: 0,
            scratch: Box::default(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pending_pos < this.pending.len() {
                let n = (this.pending.len() - this.pending_pos).min(buf.remaining());
                buf.put_slice(&this.pending[this.pending_pos..this.pending_pos + n]);
                this.pending_pos += n;
                if this.pending_pos == this.pending.len() {
                    this.pending.clear();
                    this.pending_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.scanner.holding() {
                if this.scratch.is_empty() {
                    this.scratch = vec![0; MAX_FRAME].into_boxed_slice();
                }
                let mut scratch = ReadBuf::new(&mut this.scratch);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut scratch))?;
                if scratch.filled().is_empty() {
                    this.scanner.flush(&mut this.pending);
                    if this.pending.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                } else {
                    this.scanner.absorb(scratch.filled(), &mut this.pending);
                }
                continue;
            }
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let new = &buf.filled()[before..];
            if new.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let pass = this.scanner.scan(new);
            if pass == new.len() {
                return Poll::Ready(Ok(()));
            }
            this.scanner.absorb(&new[pass..], &mut this.pending);
            buf.set_filled(before + pass);
            if pass > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Connected for AuthorityFix<UnixStream> {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests;
