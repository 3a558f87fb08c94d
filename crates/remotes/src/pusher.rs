//! Pushing blobs (monolithic or chunked uploads, cross-repository mounts)
//! and manifests.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderName, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::ReaderStream;

use crate::error::status_error;
use crate::hosts::Capabilities;
use crate::media_types;
use crate::reference::Reference;
use crate::request::{Base, Body, RegistryHost, Request};
use crate::resolver::MAX_MANIFEST_SIZE;

/// The label (or annotation) containerd keeps on content to remember the
/// repositories it came from on a registry, for cross-repository mounts:
/// `containerd.io/distribution.source.<registry>` = comma-separated repos.
pub const DISTRIBUTION_SOURCE_LABEL: &str = "containerd.io/distribution.source";

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The content was uploaded.
    Pushed,
    /// The registry had it already; nothing was sent.
    AlreadyExists,
    /// The registry linked it from another repository it holds.
    Mounted {
        /// The repository it was mounted from.
        from: String,
    },
}

/// Pushes content to one repository. Cheap to clone; clones share
/// connections and tokens.
#[derive(Clone)]
pub struct Pusher {
    base: Arc<Base>,
    chunk_size: Option<u64>,
    mount_sources: Vec<String>,
}

impl Pusher {
    pub(crate) fn new(base: Arc<Base>) -> Pusher {
        Pusher {
            base,
            chunk_size: None,
            mount_sources: Vec::new(),
        }
    }

    /// The reference this pusher writes to.
    pub fn reference(&self) -> &Reference {
        &self.base.reference
    }

    /// Uploads blobs larger than `bytes` in chunks of that size (PATCH
    /// requests) instead of one PUT.
    pub fn with_chunk_size(mut self, bytes: u64) -> Pusher {
        self.chunk_size = (bytes > 0).then_some(bytes);
        self
    }

    /// Tries to mount blobs from `repository` on the same registry before
    /// uploading them. Descriptors may also name sources with the
    /// [`DISTRIBUTION_SOURCE_LABEL`] annotation.
    pub fn with_mount_source(mut self, repository: impl Into<String>) -> Pusher {
        self.mount_sources.push(repository.into());
        self
    }

    fn host(&self) -> Result<&RegistryHost> {
        self.base
            .hosts_with(Capabilities::PUSH)
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("no push hosts for {}", self.base.reference)))
    }

    fn scopes(&self) -> Vec<String> {
        vec![self.base.scope(true)]
    }

    /// Whether the registry has `desc` (a manifest by digest, or a blob).
    pub async fn exists(&self, desc: &Descriptor) -> Result<bool> {
        let host = self.host()?;
        let kind = if media_types::is_manifest(&desc.media_type) {
            "manifests"
        } else {
            "blobs"
        };
        self.head(host, &[kind, &desc.digest], desc).await
    }

    /// HEAD on `parts`: true when the registry answers 200 for `desc`.
    async fn head(&self, host: &RegistryHost, parts: &[&str], desc: &Descriptor) -> Result<bool> {
        let url = self.base.url(host, parts)?;
        let req = Request::new(Method::HEAD, url).header(ACCEPT, &accept(desc))?;
        let what = req.describe();
        let resp = self.base.send(host, req, &self.scopes()).await?;
        match resp.status() {
            StatusCode::OK => {
                // Under a tag, the content is there only if the tag points
                // at this digest.
                let digest = header(&resp, &DOCKER_CONTENT_DIGEST);
                Ok(parts.last() == Some(&desc.digest.as_str())
                    || digest.as_deref() == Some(desc.digest.as_str()))
            }
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(resp, &what).await),
        }
    }

    /// Pushes `data`, which must match `desc`: a manifest or index is put
    /// under its digest, anything else uploaded as a blob (after a
    /// cross-repository mount is tried, when a source is known).
    pub async fn push_bytes(&self, desc: &Descriptor, data: Bytes) -> Result<PushOutcome> {
        crate::verify::verify_bytes(desc, &data).map_err(|e| {
            Error::invalid_argument(format!(
                "content does not match its descriptor: {}",
                e.message()
            ))
        })?;
        if media_types::is_manifest(&desc.media_type) {
            return self.put_manifest(desc, data, &desc.digest).await;
        }
        self.push_blob(desc, Upload::Bytes(data)).await
    }

    /// Pushes `desc`'s content read from `reader`, streamed for blobs (the
    /// registry checks the digest), read into memory for manifests.
    pub async fn push_reader<R>(&self, desc: &Descriptor, reader: R) -> Result<PushOutcome>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        if media_types::is_manifest(&desc.media_type) {
            let mut data = Vec::new();
            reader
                .take(MAX_MANIFEST_SIZE + 1)
                .read_to_end(&mut data)
                .await
                .map_err(|e| {
                    Error::with_source(
                        ErrorKind::Unknown,
                        format_args!("reading {}", desc.digest),
                        e,
                    )
                })?;
            return self.push_bytes(desc, Bytes::from(data)).await;
        }
        self.push_blob(desc, Upload::Reader(Box::new(reader))).await
    }

    /// Pushes the root manifest or index `desc` under the reference's tag
    /// (or its digest when the reference has none), after its blobs and
    /// children are pushed.
    pub async fn push_root(&self, desc: &Descriptor, manifest: Bytes) -> Result<PushOutcome> {
        crate::verify::verify_bytes(desc, &manifest).map_err(|e| {
            Error::invalid_argument(format!(
                "manifest does not match its descriptor: {}",
                e.message()
            ))
        })?;
        if !media_types::is_manifest(&desc.media_type) {
            return Err(Error::invalid_argument(format!(
                "{} is not a manifest or index media type",
                desc.media_type
            )));
        }
        let object = match (self.base.reference.tag(), self.base.reference.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(digest)) if digest != desc.digest => {
                return Err(Error::invalid_argument(format!(
                    "reference {} pins {digest}, not {}",
                    self.base.reference, desc.digest
                )));
            }
            _ => desc.digest.clone(),
        };
        self.put_manifest(desc, manifest, &object).await
    }

    async fn put_manifest(
        &self,
        desc: &Descriptor,
        data: Bytes,
        object: &str,
    ) -> Result<PushOutcome> {
        let host = self.host()?;
        if self.head(host, &["manifests", object], desc).await? {
            return Ok(PushOutcome::AlreadyExists);
        }
        let url = self.base.url(host, &["manifests", object])?;
        let mut req = Request::new(Method::PUT, url).header(CONTENT_TYPE, &desc.media_type)?;
        req.body = Body::Bytes(data);
        let what = req.describe();
        let resp = self.base.send(host, req, &self.scopes()).await?;
        expect_stored(resp, &what, desc).await?;
        Ok(PushOutcome::Pushed)
    }

    async fn push_blob(&self, desc: &Descriptor, upload: Upload) -> Result<PushOutcome> {
        let host = self.host()?;
        if self.head(host, &["blobs", &desc.digest], desc).await? {
            return Ok(PushOutcome::AlreadyExists);
        }
        let start = self.base.url(host, &["blobs", "uploads", ""])?;
        let mut location = None;
        if let Some(from) = self.mount_candidate(desc) {
            match self
                .start_upload(host, &start, Some((&desc.digest, &from)))
                .await
            {
                Ok(None) => return Ok(PushOutcome::Mounted { from }),
                Ok(Some(loc)) => location = Some(loc),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
                    ) =>
                {
                    tracing::debug!(error = %e, %from, "mount refused, uploading");
                }
                Err(e) => return Err(e),
            }
        }
        let location = match location {
            Some(loc) => loc,
            None => match self.start_upload(host, &start, None).await? {
                Some(loc) => loc,
                None => return Ok(PushOutcome::AlreadyExists),
            },
        };
        match self.chunk_size {
            Some(chunk) if desc.size < 0 || desc.size as u64 > chunk => {
                self.upload_chunked(host, location, desc, upload, chunk)
                    .await?
            }
            _ => self.upload_monolithic(host, location, desc, upload).await?,
        }
        Ok(PushOutcome::Pushed)
    }

    /// The repository to mount `desc` from: the configured or labelled
    /// source sharing the longest path prefix with this repository (the
    /// last of equals, as containerd picks).
    fn mount_candidate(&self, desc: &Descriptor) -> Option<String> {
        let target = self.base.reference.repository();
        let label = format!(
            "{DISTRIBUTION_SOURCE_LABEL}.{}",
            self.base.reference.domain()
        );
        let labelled = desc
            .annotations
            .get(&label)
            .map(String::as_str)
            .unwrap_or_default();
        let components: Vec<&str> = target.split('/').collect();
        let mut best: Option<(usize, &str)> = None;
        let candidates = self
            .mount_sources
            .iter()
            .map(String::as_str)
            .chain(labelled.split(','));
        for repo in candidates.filter(|r| !r.is_empty() && *r != target) {
            let common = components
                .iter()
                .zip(repo.split('/'))
                .take_while(|(a, b)| *a == b)
                .count();
            if best.is_none_or(|(n, _)| common >= n) {
                best = Some((common, repo));
            }
        }
        best.map(|(_, repo)| repo.to_string())
    }

    /// POSTs to start an upload (with `mount`: digest and source
    /// repository). `None`: the blob is there (201); else the upload URL.
    async fn start_upload(
        &self,
        host: &RegistryHost,
        start: &Url,
        mount: Option<(&str, &str)>,
    ) -> Result<Option<Url>> {
        let mut url = start.clone();
        let mut scopes = self.scopes();
        if let Some((digest, from)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", digest)
                .append_pair("from", from);
            scopes.push(format!("repository:{from}:pull"));
        }
        let mut req = Request::new(Method::POST, url).header(CONTENT_LENGTH, "0")?;
        req.body = Body::Bytes(Bytes::new());
        let what = req.describe();
        let resp = self.base.send(host, req, &scopes).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => {
                location(&resp, &what).map(Some)
            }
            _ => Err(status_error(resp, &what).await),
        }
    }

    async fn upload_monolithic(
        &self,
        host: &RegistryHost,
        mut url: Url,
        desc: &Descriptor,
        upload: Upload,
    ) -> Result<()> {
        url.query_pairs_mut().append_pair("digest", &desc.digest);
        let mut req =
            Request::new(Method::PUT, url).header(CONTENT_TYPE, "application/octet-stream")?;
        if desc.size >= 0 {
            req = req.header(CONTENT_LENGTH, &desc.size.to_string())?;
        }
        req.body = match upload {
            Upload::Bytes(b) => Body::Bytes(b),
            Upload::Reader(r) => Body::Once(Some(reqwest::Body::wrap_stream(ReaderStream::new(r)))),
        };
        let what = req.describe();
        let resp = self.base.send(host, req, &self.scopes()).await?;
        expect_stored(resp, &what, desc).await
    }

    async fn upload_chunked(
        &self,
        host: &RegistryHost,
        mut url: Url,
        desc: &Descriptor,
        mut upload: Upload,
        chunk: u64,
    ) -> Result<()> {
        let mut sent: u64 = 0;
        loop {
            let data = upload.next_chunk(chunk, &desc.digest).await?;
            if data.is_empty() {
                break;
            }
            let end = sent + data.len() as u64 - 1;
            let mut req = Request::new(Method::PATCH, url)
                .header(CONTENT_TYPE, "application/octet-stream")?
                .header(CONTENT_RANGE, &format!("{sent}-{end}"))?
                .header(CONTENT_LENGTH, &data.len().to_string())?;
            sent = end + 1;
            req.body = Body::Bytes(data);
            let what = req.describe();
            let resp = self.base.send(host, req, &self.scopes()).await?;
            if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
                return Err(status_error(resp, &what).await);
            }
            url = location(&resp, &what)?;
        }
        url.query_pairs_mut().append_pair("digest", &desc.digest);
        let mut req = Request::new(Method::PUT, url).header(CONTENT_LENGTH, "0")?;
        req.body = Body::Bytes(Bytes::new());
        let what = req.describe();
        let resp = self.base.send(host, req, &self.scopes()).await?;
        expect_stored(resp, &what, desc).await
    }
}

/// What a blob upload sends.
enum Upload {
    Bytes(Bytes),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl Upload {
    /// Up to `size` next bytes; empty at the end.
    async fn next_chunk(&mut self, size: u64, digest: &str) -> Result<Bytes> {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        match self {
            Upload::Bytes(b) => Ok(b.split_to(size.min(b.len()))),
            Upload::Reader(r) => {
                let mut buf = BytesMut::with_capacity(size.min(8 << 20));
                while buf.len() < size {
                    let want = (size - buf.len()).min(1 << 20);
                    let n = (&mut *r)
                        .take(want as u64)
                        .read_buf(&mut buf)
                        .await
                        .map_err(|e| {
                            crate::error::error_from_io(e).context(format!("reading {digest}"))
                        })?;
                    if n == 0 {
                        break;
                    }
                }
                Ok(buf.freeze())
            }
        }
    }
}

/// The `Accept` header for checking `desc`.
fn accept(desc: &Descriptor) -> String {
    if desc.media_type.is_empty() {
        "*/*".to_string()
    } else {
        format!("{}, */*", desc.media_type)
    }
}

fn header(resp: &Response, name: &HeaderName) -> Option<String> {
    resp.headers().get(name)?.to_str().ok().map(str::to_string)
}

/// The upload URL a response points at; a relative `Location` is taken from
/// the request's URL, a scheme-less `host/path` gets the request's scheme.
fn location(resp: &Response, what: &str) -> Result<Url> {
    let value = header(resp, &LOCATION)
        .ok_or_else(|| Error::unknown(format!("{what}: the registry sent no upload Location")))?;
    resolve_location(resp.url(), &value).map_err(|e| e.context(what))
}

pub(crate) fn resolve_location(request: &Url, location: &str) -> Result<Url> {
    let absolute = if location.starts_with('/') || location.contains("://") {
        location.to_string()
    } else {
        format!("{}://{location}", request.scheme())
    };
    request.join(&absolute).map_err(|e| {
        Error::with_source(
            ErrorKind::Unknown,
            format_args!("unable to parse location {location:?}"),
            e,
        )
    })
}

/// Checks that an upload or manifest PUT was stored as `desc`.
async fn expect_stored(resp: Response, what: &str, desc: &Descriptor) -> Result<()> {
    match resp.status() {
        StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::ACCEPTED => {}
        _ => return Err(status_error(resp, what).await),
    }
    match header(&resp, &DOCKER_CONTENT_DIGEST) {
        Some(actual) if actual != desc.digest => Err(Error::failed_precondition(format!(
            "{what}: registry stored digest {actual}, expected {}",
            desc.digest
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let req = Url::parse("https://r.io:5000/v2/a/blobs/uploads/").unwrap();
        let cases = [
            (
                "/v2/a/blobs/uploads/u1?_state=x",
                "https://r.io:5000/v2/a/blobs/uploads/u1?_state=x",
            ),
            ("http://other:1/up/u2", "http://other:1/up/u2"),
            ("store.io/up/u3", "https://store.io/up/u3"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve_location(&req, loc).unwrap().as_str(), want, "{loc}");
        }
    }
}
