//! Checking fetched bytes against their descriptor: size and digest.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crated_core::image::Descriptor;
use crated_core::{Error, Result, digest};
use sha2::{Digest, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, ReadBuf};

enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

/// Hashes and counts bytes, then checks them against a descriptor.
pub struct Verifier {
    hasher: Hasher,
    expected_digest: String,
    expected_size: Option<u64>,
    seen: u64,
}

impl Verifier {
    /// A verifier for `desc` (sha256, sha384 or sha512 digests). A negative
    /// size means unknown: only the digest is checked.
    pub fn new(desc: &Descriptor) -> Result<Verifier> {
        crated_core::digest::validate(&desc.digest)?;
        let hasher = match desc.digest.split_once(':').map(|(a, _)| a) {
            Some("sha384") => Hasher::Sha384(Sha384::new()),
            Some("sha512") => Hasher::Sha512(Sha512::new()),
            _ => Hasher::Sha256(Sha256::new()),
        };
        Ok(Verifier {
            hasher,
            expected_digest: desc.digest.clone(),
            expected_size: u64::try_from(desc.size).ok(),
            seen: 0,
        })
    }

    /// Adds `data`; errors as soon as more bytes arrive than the size says.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        self.seen += data.len() as u64;
        if let Some(size) = self.expected_size
            && self.seen > size
        {
            return Err(Error::failed_precondition(format!(
                "content {}: more data than the expected size {size}",
                self.expected_digest
            )));
        }
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
        Ok(())
    }

    /// The bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Checks size and digest of everything seen. A mismatch is
    /// `FailedPrecondition`, as containerd reports a bad commit.
    pub fn verify(self) -> Result<()> {
        if let Some(size) = self.expected_size
            && self.seen != size
        {
            return Err(Error::failed_precondition(format!(
                "content {}: size mismatch: got {} bytes, expected {size}",
                self.expected_digest, self.seen
            )));
        }
        let actual = match self.hasher {
            Hasher::Sha256(h) => digest::format("sha256", &h.finalize()),
            Hasher::Sha384(h) => digest::format("sha384", &h.finalize()),
            Hasher::Sha512(h) => digest::format("sha512", &h.finalize()),
        };
        if actual != self.expected_digest {
            return Err(Error::failed_precondition(format!(
                "digest mismatch: got {actual}, expected {}",
                self.expected_digest
            )));
        }
        Ok(())
    }
}

/// Checks `data` against `desc`.
pub fn verify_bytes(desc: &Descriptor, data: &[u8]) -> Result<()> {
    let mut v = Verifier::new(desc)?;
    v.update(data)?;
    v.verify()
}

/// A reader that passes bytes through while verifying them: at the end of
/// the stream it fails with a `FailedPrecondition` error ("digest
/// mismatch" or "size mismatch") instead of reporting EOF when the content
/// is not what the descriptor says. Recover the kind with
/// [`crate::error_from_io`].
pub struct VerifyingReader<R> {
    inner: R,
    verifier: Option<Verifier>,
}

impl<R> VerifyingReader<R> {
    /// Verifies everything `inner` yields against `desc`.
    pub fn new(desc: &Descriptor, inner: R) -> Result<VerifyingReader<R>> {
        Ok(VerifyingReader::with_verifier(Verifier::new(desc)?, inner))
    }

    /// Continues `verifier` (fed with the bytes already held, when
    /// resuming at an offset) over what `inner` yields.
    pub fn with_verifier(verifier: Verifier, inner: R) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            verifier: Some(verifier),
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for VerifyingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let new = &buf.filled()[before..];
        if new.is_empty() {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // End of stream: the verdict.
            if let Some(verifier) = this.verifier.take() {
                verifier.verify().map_err(std::io::Error::from)?;
            }
            return Poll::Ready(Ok(()));
        }
        let checked = match this.verifier.as_mut() {
            Some(v) => v.update(new),
            None => Err(Error::failed_precondition("read past verified end")),
        };
        if let Err(e) = checked {
            // A failed read hands out no bytes.
            buf.set_filled(before);
            return Poll::Ready(Err(std::io::Error::from(e)));
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::error_from_io;
    use crated_core::ErrorKind;
    use tokio::io::AsyncReadExt;

    fn desc(data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: crated_core::digest::sha256(data),
            size: data.len() as i64,
            annotations: Default::default(),
        }
    }

    #[tokio::test]
    async fn passes_good_content() {
        let d = desc(b"hello world");
        let mut r = VerifyingReader::new(&d, &b"hello world"[..]).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"hello world");
        verify_bytes(&d, b"hello world").unwrap();
    }

    #[tokio::test]
    async fn reports_digest_and_size_mismatch() {
        let d = desc(b"hello world");
        let mut r = VerifyingReader::new(&d, &b"hello w0rld"[..]).unwrap();
        let err = error_from_io(r.read_to_end(&mut Vec::new()).await.unwrap_err());
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert!(err.message().starts_with("digest mismatch"), "{err}");
        let mut r = VerifyingReader::new(&d, &b"hello"[..]).unwrap();
        let err = error_from_io(r.read_to_end(&mut Vec::new()).await.unwrap_err());
        assert!(err.message().contains("size mismatch"), "{err}");
        let mut r = VerifyingReader::new(&d, &b"hello world and more"[..]).unwrap();
        let err = error_from_io(r.read_to_end(&mut Vec::new()).await.unwrap_err());
        assert!(err.message().contains("more data"), "{err}");
    }

    #[test]
    fn other_algorithms_and_resume() {
        let d = Descriptor {
            digest: format!("sha512:{}", hex::encode(Sha512::digest(b"abc"))),
            size: -1,
            ..Default::default()
        };
        let mut v = Verifier::new(&d).unwrap();
        v.update(b"a").unwrap();
        v.update(b"bc").unwrap();
        assert_eq!(v.seen(), 3);
        v.verify().unwrap();
        let bad = Descriptor {
            digest: "md5:abc".into(),
            ..Default::default()
        };
        assert_eq!(
            Verifier::new(&bad).err().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
