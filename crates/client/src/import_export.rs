//! Image archives on the client side, the way containerd's client imports
//! and exports them, and unpacking an image into a snapshotter.
//!
//! **Import** reads an OCI image layout or `docker save` tar
//! (`crated_images::archive`), writes every blob with the content
//! service's `Write`, sets containerd's `containerd.io/gc.ref.content.*`
//! labels on indexes and manifests, creates (or retargets) the image
//! records and unpacks them — all under a lease that is deleted at the
//! end, once the image records and labels hold what must stay.
//!
//! **Unpack** applies each layer with the diff service onto a snapshot
//! prepared on its parent and commits it under its chain id (reusing
//! chains that exist), then labels the image config
//! `containerd.io/gc.ref.snapshot.<snapshotter>` with the top chain id.
//!
//! **Export** walks the images' content through the content service's
//! `Read` and writes an OCI layout tar (with a `manifest.json` for
//! `docker load`).

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::time::Duration;

use crated_core::ErrorKind;
use crated_core::digest::Sha256Digester;
use crated_core::image::Descriptor;
use crated_images::archive::{self, BlobSink, BlobSource};
/// The result of an unpack (the pipeline's).
pub use crated_images::pipeline::Unpacked;
use crated_images::pipeline::{self, Ready};
use crated_images::walk::{self, PlatformChoice};
use crated_images::{Platform, media};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

use crate::client::Client;
use crate::content::{ByteStream, Content};
use crate::error::{Error, Result};
use crate::images::Image;
use crate::pipeline::ClientLayers;

/// How long the lease of an import or unpack lives if the client dies
/// before deleting it.
const LEASE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// Bytes per pipe buffer between a blocking archive reader and a content
/// write.
const PIPE_SIZE: usize = 1 << 20;

/// What an import does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The name of images the archive names only by tag (or not at all).
    pub base_name: Option<String>,
    /// Keep every platform of a multi-platform image (otherwise only
    /// `platform`'s, or the host's, are referenced and the rest are
    /// collected once the import's lease is gone).
    pub all_platforms: bool,
    /// The platform to keep and unpack; the host's when `None`.
    pub platform: Option<Platform>,
    /// Unpack the images into `snapshotter`.
    pub unpack: bool,
    /// The snapshotter to unpack into.
    pub snapshotter: String,
    /// Labels of the new image records.
    pub labels: HashMap<String, String>,
}

/// An image an import created or updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedImage {
    /// Its name.
    pub name: String,
    /// Its root descriptor.
    pub target: Descriptor,
    /// The chain id of its top layer when it was unpacked.
    pub unpacked: Option<String>,
}

/// What an export writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Every platform of a multi-platform image (its blobs must all be
    /// present).
    pub all_platforms: bool,
    /// The platform to export; the host's when `None`.
    pub platform: Option<Platform>,
}

fn choice(all: bool, platform: Option<&Platform>) -> PlatformChoice {
    match (all, platform) {
        (true, _) => PlatformChoice::All,
        (false, Some(p)) => PlatformChoice::One(p.clone().normalized()),
        (false, None) => PlatformChoice::host(),
    }
}

/// Runs `f` under a new lease (see [`crate::leases::with_lease`]).
async fn with_lease<T, F, Fut>(client: &Client, f: F) -> Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    crate::leases::with_lease(client, LEASE_EXPIRY, f).await
}

/// Imports the image archive read from `reader` into `client`'s
/// namespace; returns the images it created or updated.
pub async fn import<R>(
    client: &Client,
    reader: R,
    options: &ImportOptions,
) -> Result<Vec<ImportedImage>>
where
    R: Read + Send + 'static,
{
    with_lease(client, |leased| import_under_lease(leased, reader, options)).await
}

async fn import_under_lease<R>(
    client: Client,
    reader: R,
    options: &ImportOptions,
) -> Result<Vec<ImportedImage>>
where
    R: Read + Send + 'static,
{
    let content = client.content();
    let base_name = options.base_name.clone();
    let handle = Handle::current();
    let sink_content = content.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut sink = ContentSink {
            handle,
            content: sink_content,
            failure: None,
        };
        let result = archive::import(reader, &mut sink, base_name.as_deref());
        match (result, sink.failure) {
            (Err(_), Some(failure)) => Err(failure),
            (result, _) => result.map_err(Error::from),
        }
    })
    .await
    .map_err(|e| Error::protocol(format!("import task: {e}")))??;
    if found.is_empty() {
        return Err(Error::InvalidArgument(
            "the archive names no image (give --base-name for unnamed OCI layouts)".to_string(),
        ));
    }
    let platform_choice = choice(options.all_platforms, options.platform.as_ref());
    let mut labelled = HashSet::new();
    for image in &found {
        set_child_labels(&content, &image.target, &platform_choice, &mut labelled).await?;
    }
    let mut out = Vec::new();
    for image in found {
        let record = Image {
            name: image.name.clone(),
            labels: options.labels.clone(),
            target: image.target.clone(),
            created_at: None,
            updated_at: None,
        };
        match client.images().create(&record).await {
            Ok(_) => {}
            Err(err) if err.is_already_exists() => {
                client
                    .images()
                    .update(&record, &["target".to_string()])
                    .await?;
            }
            Err(err) => return Err(err),
        }
        out.push(ImportedImage {
            name: image.name,
            target: image.target,
            unpacked: None,
        });
    }
    if options.unpack {
        let unpack_platform = options.platform.clone().unwrap_or_else(Platform::host);
        let mut done: HashMap<String, String> = HashMap::new();
        for image in &mut out {
            if let Some(chain_id) = done.get(&image.target.digest) {
                image.unpacked = Some(chain_id.clone());
                continue;
            }
            let unpacked = unpack_target(
                &client,
                &image.target,
                &unpack_platform,
                &options.snapshotter,
            )
            .await
            .map_err(|e| context(e, &format!("unpacking {}", image.name)))?;
            done.insert(image.target.digest.clone(), unpacked.chain_id.clone());
            image.unpacked = Some(unpacked.chain_id);
        }
    }
    Ok(out)
}

fn context(err: Error, what: &str) -> Error {
    match err {
        Error::Daemon(e) => Error::Daemon(e.context(what)),
        other => other,
    }
}

/// Labels every index and manifest under `root` with its children (those
/// `choice` selects), so that they live as long as the image. Blobs the
/// store does not have are skipped: an archive may carry only some
/// platforms of an index.
async fn set_child_labels(
    content: &Content,
    root: &Descriptor,
    choice: &PlatformChoice,
    labelled: &mut HashSet<String>,
) -> Result<()> {
    let mut stack = vec![(root.clone(), 0)];
    while let Some((desc, depth)) = stack.pop() {
        if !(media::is_index(&desc.media_type) || media::is_manifest(&desc.media_type)) {
            continue;
        }
        if media::is_index(&desc.media_type) {
            pipeline::check_depth(root, depth)?;
        }
        if !labelled.insert(desc.digest.clone()) {
            continue;
        }
        let bytes = match pipeline::read_document(content, &desc).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == ErrorKind::NotFound && desc.digest != root.digest => {
                tracing::debug!(digest = %desc.digest, "not in the archive; skipped");
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let children = walk::children(&desc, &bytes, choice)?;
        let labels = walk::child_labels(&desc, &children);
        pipeline::ContentSource::add_labels(content, &desc.digest, labels).await?;
        stack.extend(children.into_iter().map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// A blob sink writing through the content service from a blocking
/// thread.
struct ContentSink {
    handle: Handle,
    content: Content,
    /// The client error behind the last failure, which the archive code
    /// only sees as its own error type.
    failure: Option<Error>,
}

impl ContentSink {
    fn fail(&mut self, err: Error) -> crated_core::Error {
        let core = crated_core::Error::new(err.kind(), err.to_string());
        self.failure = Some(err);
        core
    }
}

impl BlobSink for ContentSink {
    fn put(
        &mut self,
        expected: Option<&Descriptor>,
        reader: &mut dyn Read,
    ) -> crated_core::Result<(String, i64)> {
        let (mut pipe_in, pipe_out) = tokio::io::duplex(PIPE_SIZE);
        let reference = match expected {
            Some(e) => format!("import-{}", e.digest),
            None => crated_core::identifiers::unique_name("import"),
        };
        let content = self.content.clone();
        let expected_digest = expected.map(|e| e.digest.clone());
        let expected_size = expected.map(|e| e.size);
        let write = self.handle.spawn(async move {
            content
                .write_blob(
                    &reference,
                    expected_digest.as_deref(),
                    expected_size,
                    pipe_out,
                    HashMap::new(),
                )
                .await
        });
        let mut hasher = Sha256Digester::new();
        let mut size: i64 = 0;
        let mut buf = vec![0u8; PIPE_SIZE];
        let mut writing = true;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    write.abort();
                    return Err(crated_core::Error::with_source(
                        ErrorKind::InvalidArgument,
                        "reading the image archive",
                        e,
                    ));
                }
            };
            hasher.update(&buf[..n]);
            size += n as i64;
            // The writer stops reading once the daemon says it has the
            // blob; the rest is only hashed.
            if writing && self.handle.block_on(pipe_in.write_all(&buf[..n])).is_err() {
                writing = false;
            }
        }
        drop(pipe_in);
        match self.handle.block_on(write) {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(self.fail(err)),
            Err(e) => {
                return Err(crated_core::Error::with_source(
                    ErrorKind::Internal,
                    "content write task",
                    e,
                ));
            }
        }
        let digest = hasher.finish();
        if let Some(expected) = expected
            && expected.digest != digest
        {
            return Err(crated_core::Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "blob {} of the archive has digest {digest}",
                    expected.digest
                ),
            ));
        }
        Ok((digest, size))
    }
}

/// A blob source reading through the content service from a blocking
/// thread.
struct ContentSource {
    handle: Handle,
    content: Content,
}

struct StreamReader<'a> {
    handle: &'a Handle,
    chunks: ByteStream,
    pending: Vec<u8>,
    offset: usize,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.offset >= self.pending.len() {
            match self.handle.block_on(self.chunks.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.pending = chunk;
                    self.offset = 0;
                }
                Some(Err(err)) => return Err(std::io::Error::other(err)),
            }
        }
        let n = buf.len().min(self.pending.len() - self.offset);
        buf[..n].copy_from_slice(&self.pending[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

impl BlobSource for ContentSource {
    fn open(&self, digest: &str) -> crated_core::Result<Box<dyn Read + '_>> {
        let chunks = self
            .handle
            .block_on(self.content.read(digest, 0, 0))
            .map_err(|e| crated_core::Error::new(e.kind(), e.to_string()))?;
        Ok(Box::new(StreamReader {
            handle: &self.handle,
            chunks,
            pending: Vec::new(),
            offset: 0,
        }))
    }
}

/// Writes images `names` of `client`'s namespace into an OCI layout tar on
/// `writer`, which is handed back.
pub async fn export<W>(
    client: &Client,
    names: &[String],
    writer: W,
    options: &ExportOptions,
) -> Result<W>
where
    W: Write + Send + 'static,
{
    let mut images = Vec::new();
    for name in names {
        let image = client.images().get(name).await?;
        images.push((image.name.clone(), image.target.clone()));
    }
    let platform_choice = choice(options.all_platforms, options.platform.as_ref());
    let source = ContentSource {
        handle: Handle::current(),
        content: client.content(),
    };
    tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        archive::export(&images, &source, &platform_choice, &mut writer)?;
        writer.flush().map_err(|e| Error::Io {
            context: "writing the image archive".to_string(),
            source: e,
        })?;
        Ok(writer)
    })
    .await
    .map_err(|e| Error::protocol(format!("export task: {e}")))?
}

/// The chain id of image `target`'s root filesystem for `platform`.
pub async fn chain_id(client: &Client, target: &Descriptor, platform: &Platform) -> Result<String> {
    let resolved = pipeline::resolve(&client.content(), target, platform).await?;
    Ok(resolved.chain_id())
}

/// Unpacks image `target` for `platform` into `snapshotter` under a new
/// lease (deleted at the end, when the config's label holds the chain).
pub async fn unpack(
    client: &Client,
    target: &Descriptor,
    platform: &Platform,
    snapshotter: &str,
) -> Result<Unpacked> {
    with_lease(client, |leased| async move {
        unpack_target(&leased, target, platform, snapshotter).await
    })
    .await
}

/// Unpacks with `client`'s requests (and lease, if it has one) through the
/// image pipeline.
async fn unpack_target(
    client: &Client,
    target: &Descriptor,
    platform: &Platform,
    snapshotter: &str,
) -> Result<Unpacked> {
    let content = client.content();
    let image = pipeline::resolve(&content, target, platform).await?;
    let layers = ClientLayers::new(client, snapshotter);
    Ok(pipeline::unpack(&content, &layers, snapshotter, &image, &mut Ready).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_choices() {
        assert!(matches!(choice(true, None), PlatformChoice::All));
        let arm = Platform::parse("linux/arm64").unwrap();
        match choice(false, Some(&arm)) {
            PlatformChoice::One(p) => assert_eq!(p.architecture, "arm64"),
            other => panic!("{other:?}"),
        }
        match choice(false, None) {
            PlatformChoice::One(p) => assert_eq!(p, Platform::host()),
            other => panic!("{other:?}"),
        }
    }
}
