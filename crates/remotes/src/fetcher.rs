//! Fetching manifests and blobs by descriptor, from an offset when asked.

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use futures::Stream;
use reqwest::header::{ACCEPT, CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};

use crate::error::status_error;
use crate::hosts::Capabilities;
use crate::media_types;
use crate::reader::FetchReader;
use crate::reference::Reference;
use crate::request::{Base, Request};
use crate::verify::Verifier;

/// A response body as a stream of chunks.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// An opened body: the stream, and how many leading bytes to drop (a
/// server that ignored the range request sends from the start).
pub(crate) struct Opened {
    pub(crate) stream: ByteStream,
    pub(crate) skip: u64,
}

/// Fetches content of one repository. Cheap to clone: clones share the
/// HTTP connection pools and the token cache, so blobs can be fetched in
/// parallel from clones.
#[derive(Clone)]
pub struct Fetcher {
    base: Arc<Base>,
}

impl Fetcher {
    pub(crate) fn new(base: Arc<Base>) -> Fetcher {
        Fetcher { base }
    }

    /// The reference this fetcher reads from.
    pub fn reference(&self) -> &Reference {
        &self.base.reference
    }

    /// Opens `desc` (a manifest or index from `/manifests/`, anything else
    /// from `/blobs/`) on the first endpoint that has it. The reader resumes
    /// with a range request when the connection breaks; wrap it in
    /// [`crate::VerifyingReader`] to check the digest.
    pub async fn fetch(&self, desc: &Descriptor) -> Result<FetchReader> {
        self.fetch_at(desc, 0).await
    }

    /// Like [`Fetcher::fetch`], starting `offset` bytes in (`Range:
    /// bytes=<offset>-`), to resume a partial download.
    pub async fn fetch_at(&self, desc: &Descriptor, offset: u64) -> Result<FetchReader> {
        let size = u64::try_from(desc.size).ok();
        if size.is_some_and(|s| offset > s) {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "offset {offset} is past the end of {} ({} bytes)",
                    desc.digest, desc.size
                ),
            ));
        }
        let opened = if size == Some(offset) {
            None
        } else {
            Some(open(&self.base, desc, offset).await?)
        };
        Ok(FetchReader::new(
            self.base.clone(),
            desc.clone(),
            offset,
            opened,
        ))
    }

    /// Fetches all of `desc` into memory and verifies it; for manifests,
    /// indexes and configs. Refuses content over `limit` bytes.
    pub async fn fetch_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Bytes> {
        if u64::try_from(desc.size).is_ok_and(|s| s > limit) {
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "{} is {} bytes, over the limit of {limit}",
                    desc.digest, desc.size
                ),
            ));
        }
        let mut verifier = Verifier::new(desc)?;
        let mut reader = self.fetch(desc).await?;
        let mut out =
            BytesMut::with_capacity(usize::try_from(desc.size.clamp(0, 1 << 20)).unwrap_or(0));
        while let Some(chunk) = reader.next_chunk().await? {
            verifier.update(&chunk)?;
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(Error::new(
                    ErrorKind::ResourceExhausted,
                    format!("{} is over the limit of {limit} bytes", desc.digest),
                ));
            }
            out.extend_from_slice(&chunk);
        }
        verifier.verify()?;
        Ok(out.freeze())
    }
}

/// Opens `desc` at `offset` on the first endpoint with pull capability that
/// answers; `NotFound` when none has it.
pub(crate) async fn open(base: &Base, desc: &Descriptor, offset: u64) -> Result<Opened> {
    crated_core::digest::validate(&desc.digest)?;
    let hosts = base.hosts_with(Capabilities::PULL);
    if hosts.is_empty() {
        return Err(Error::not_found(format!(
            "no pull hosts for {}",
            base.reference
        )));
    }
    let kind = if media_types::is_manifest(&desc.media_type) {
        "manifests"
    } else {
        "blobs"
    };
    let scopes = [base.scope(false)];
    let mut first_err: Option<Error> = None;
    for host in hosts {
        let url = base.url(host, &[kind, &desc.digest])?;
        let accept = if desc.media_type.is_empty() {
            "*/*".to_string()
        } else {
            format!("{}, */*", desc.media_type)
        };
        let mut req = Request::new(Method::GET, url).header(ACCEPT, &accept)?;
        if offset > 0 {
            req = req.header(RANGE, &format!("bytes={offset}-"))?;
        }
        let what = req.describe();
        let result = async {
            let resp = base.send(host, req, &scopes).await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Err(Error::not_found(format!("content at {what}")));
            }
            if !status.is_success() {
                return Err(status_error(resp, &what).await);
            }
            let mut skip = 0;
            if offset > 0 {
                match resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                {
                    Some(range) if !range.starts_with(&format!("bytes {offset}-")) => {
                        return Err(Error::unknown(format!(
                            "{what}: unhandled content range in response: {range}"
                        )));
                    }
                    Some(_) => {}
                    None if status == StatusCode::PARTIAL_CONTENT => {}
                    None => skip = offset,
                }
            }
            let stream: ByteStream = Box::pin(resp.bytes_stream());
            Ok(Opened { stream, skip })
        }
        .await;
        match result {
            Ok(opened) => return Ok(opened),
            Err(e) => {
                tracing::debug!(error = %e, host = %host.endpoint.host, "fetch failed, trying next host");
                let keep_first = first_err
                    .as_ref()
                    .is_some_and(|f| f.kind() != ErrorKind::NotFound);
                if !keep_first {
                    first_err = Some(e);
                }
            }
        }
    }
    match first_err {
        Some(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Err(Error::not_found(format!(
            "could not fetch content descriptor {} ({}) from remote {}",
            desc.digest, desc.media_type, base.reference
        ))),
    }
}
