//! Pulling an image from a registry into the image store: the Transfer
//! service's adapter onto the image pipeline. Documents are resolved
//! through a source that fetches and stores what it reads; layers download
//! in parallel and each unpacks as soon as it and the layers below it are
//! in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use crated_api::types::transfer::{ImageStore, OciRegistry, UnpackConfiguration};
use crated_core::image::{Descriptor, Image};
use crated_core::{Error, ErrorKind, Result};
use crated_images::pipeline::{self, ContentSource, LayerGate, Resolved};
use crated_images::walk::{self, PlatformChoice};
use crated_images::{Platform, media};
use crated_metadata::LeaseResource;
use crated_remotes::auth::Credentials;
use crated_remotes::{Fetcher, Resolver, ResolverOptions};
use tokio::sync::{Semaphore, watch};

use super::TransferContext;
use super::auth::AuthStream;
use super::progress::Progress;
use crate::services::convert::descriptor_to_api;
use crate::unpack::{LocalContent, LocalLayers, add_labels};

/// Layers downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;
/// Bytes between two download progress reports.
const PROGRESS_STEP: i64 = 1 << 20;

fn blocking<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    tokio::task::block_in_place(f)
}

/// Opens a content writer for `desc` under `reference`, waiting while
/// another pull holds the ref. `AlreadyExists` means the blob is there; it
/// is then added to this pull's lease, as containerd's metadata store adds
/// an existing blob to the writer's lease, so that garbage collection
/// keeps it even if the pull that wrote it ends first.
async fn open_writer(
    ctx: &TransferContext,
    ns: &str,
    reference: &str,
    desc: &Descriptor,
    lease: &str,
) -> Result<crated_metadata::NamespacedWriter> {
    let content = &ctx.unpacker.content;
    let open = || blocking(|| content.writer(ns, reference, desc.size, &desc.digest, Some(lease)));
    let opened = match pipeline::wait_for_ref(open).await {
        // The other writer may have committed the blob between this
        // writer's existence checks and its ingest, before recording it in
        // the namespace; asking again records it here before answering.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => open(),
        other => other,
    };
    if let Err(e) = &opened
        && e.kind() == ErrorKind::AlreadyExists
    {
        let resource = LeaseResource {
            id: desc.digest.clone(),
            kind: "content".to_string(),
        };
        blocking(|| ctx.leases.add_resource(ns, lease, &resource))?;
    }
    opened
}

/// Writes a small blob (index, manifest, config) with labels; an existing
/// blob gets the labels added.
async fn store_blob(
    ctx: &TransferContext,
    ns: &str,
    desc: &Descriptor,
    bytes: &[u8],
    labels: HashMap<String, String>,
    lease: &str,
) -> Result<()> {
    let reference = format!("pull-{}", desc.digest);
    match open_writer(ctx, ns, &reference, desc, lease).await {
        Ok(mut w) => blocking(|| {
            if w.status()?.offset > 0 {
                w.truncate(0)?;
            }
            w.write(bytes)?;
            match w.commit(desc.size, &desc.digest, labels.clone()) {
                // Another pull committed the same document, with the same
                // child labels, while this one wrote it.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                other => other.map(|_| ()),
            }
        }),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            blocking(|| add_labels(&ctx.unpacker.content, ns, &desc.digest, labels))
        }
        Err(e) => Err(e),
    }
}

/// The registry as a content source: a document read is fetched (bounded),
/// stored with its children's gc labels, and kept for a second read.
struct Fetching<'a> {
    ctx: &'a TransferContext,
    ns: &'a str,
    fetcher: &'a Fetcher,
    lease: &'a str,
    fetched: Mutex<HashMap<String, Vec<u8>>>,
}

#[async_trait]
impl ContentSource for Fetching<'_> {
    async fn read(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let cached = self
            .fetched
            .lock()
            .ok()
            .and_then(|m| m.get(&desc.digest).cloned());
        if let Some(bytes) = cached {
            return Ok(bytes);
        }
        let bytes = self.fetcher.fetch_bytes(desc, limit).await?.to_vec();
        let children = walk::all_children(desc, &bytes)?;
        let labels = walk::child_labels(desc, &children);
        store_blob(self.ctx, self.ns, desc, &bytes, labels, self.lease).await?;
        if let Ok(mut m) = self.fetched.lock() {
            m.insert(desc.digest.clone(), bytes.clone());
        }
        Ok(bytes)
    }

    async fn add_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<()> {
        blocking(|| add_labels(&self.ctx.unpacker.content, self.ns, digest, labels))
    }
}

async fn download(
    ctx: TransferContext,
    ns: String,
    fetcher: Fetcher,
    desc: Descriptor,
    lease: String,
    progress: Progress,
) -> Result<()> {
    let name = desc.digest.clone();
    let reference = format!("layer-{}", desc.digest);
    let mut writer = match open_writer(&ctx, &ns, &reference, &desc, &lease).await {
        Ok(w) => w,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            progress
                .send(
                    "already exists",
                    &name,
                    desc.size,
                    desc.size,
                    Some(descriptor_to_api(desc.clone())),
                )
                .await;
            return Ok(());
        }
        Err(e) => return Err(e.context(format!("layer {}", desc.digest))),
    };
    let mut done = writer.status()?.offset;
    let mut reader = fetcher.fetch_at(&desc, done as u64).await?;
    progress
        .send("downloading", &name, done, desc.size, None)
        .await;
    let mut reported = done;
    while let Some(chunk) = reader.next_chunk().await? {
        blocking(|| writer.write(&chunk))?;
        done += chunk.len() as i64;
        if done - reported >= PROGRESS_STEP {
            progress
                .send("downloading", &name, done, desc.size, None)
                .await;
            reported = done;
        }
    }
    match blocking(|| writer.commit(desc.size, &desc.digest, HashMap::new())) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            return Err(e.context(format!("layer {}", desc.digest)));
        }
        _ => {}
    }
    progress
        .send(
            "complete",
            &name,
            desc.size,
            desc.size,
            Some(descriptor_to_api(desc)),
        )
        .await;
    Ok(())
}

fn platform(p: &crated_api::types::Platform) -> Platform {
    Platform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
        os_version: String::new(),
    }
    .normalized()
}

/// The platforms to fetch: the requested ones, or all of them when none
/// are named (containerd's meaning of an empty list).
fn choices(store: &ImageStore) -> Vec<PlatformChoice> {
    if store.platforms.is_empty() {
        return vec![PlatformChoice::All];
    }
    store
        .platforms
        .iter()
        .map(|p| PlatformChoice::One(platform(p)))
        .collect()
}

fn unpack_snapshotter(ctx: &TransferContext, u: &UnpackConfiguration) -> String {
    if u.snapshotter.is_empty() {
        ctx.default_snapshotter.clone()
    } else {
        u.snapshotter.clone()
    }
}

/// A resolver configured as the client asked: hosts directory, plain
/// HTTP, extra headers, and credentials asked on the client's auth stream
/// (in namespace `ns`) when a registry host challenges.
pub async fn resolver(ctx: &TransferContext, ns: &str, registry: &OciRegistry) -> Result<Resolver> {
    let mut options = ResolverOptions::default();
    if let Some(r) = &registry.resolver {
        if !r.host_dir.is_empty() {
            options = options.with_hosts_dir(&r.host_dir);
        }
        options = options.with_plain_http(r.default_scheme == "http");
        options
            .headers
            .extend(r.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !r.auth_stream.is_empty() {
            let stream = ctx.streams.take(ns, &r.auth_stream).await?;
            let source = AuthStream::new(stream, &registry.reference);
            options = options.with_credentials(Credentials::from_source(Arc::new(source)));
        }
    }
    Resolver::new(options)
}

/// Pulls `registry.reference` into the image store as `store.name` (or the
/// resolved name), unpacking as `store.unpacks` asks.
pub async fn pull(
    ctx: &TransferContext,
    ns: &str,
    registry: OciRegistry,
    store: ImageStore,
    progress: Progress,
) -> Result<()> {
    let resolver = resolver(ctx, ns, &registry).await?;
    progress
        .send("resolving", &registry.reference, 0, 0, None)
        .await;
    let (name, root) = resolver.resolve(&registry.reference).await?;
    progress
        .send(
            "resolved",
            &name,
            0,
            0,
            Some(descriptor_to_api(root.clone())),
        )
        .await;
    let fetcher = resolver.fetcher(&name)?;
    let lease = crate::services::unique_name("transfer");
    let expire = (Utc::now() + chrono::Duration::hours(24))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let labels = HashMap::from([("containerd.io/gc.expire".to_string(), expire)]);
    blocking(|| ctx.leases.create(ns, &lease, labels))?;
    let source = Fetching {
        ctx,
        ns,
        fetcher: &fetcher,
        lease: &lease,
        fetched: Mutex::new(HashMap::new()),
    };
    let result = pull_under_lease(&source, &name, &root, &store, &progress).await;
    if let Err(e) = blocking(|| ctx.leases.delete(ns, &lease)) {
        tracing::warn!(namespace = ns, lease, error = %e, "removing pull lease");
    }
    ctx.gc.mutation(true);
    result
}

/// Waits for each layer's download before its unpack, and reports.
struct DownloadGate {
    flags: Vec<watch::Receiver<Option<bool>>>,
    progress: Progress,
}

#[async_trait]
impl LayerGate for DownloadGate {
    async fn ready(&mut self, i: usize, _: &Descriptor) -> Result<()> {
        let ok = match self.flags.get_mut(i) {
            Some(flag) => flag
                .wait_for(|v| v.is_some())
                .await
                .map(|v| *v == Some(true))
                .unwrap_or(false),
            None => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Aborted,
                "unpack stopped: a layer failed to download",
            ))
        }
    }

    async fn unpacking(&mut self, layer: &Descriptor) {
        self.progress
            .send("unpacking", &layer.digest, 0, 0, None)
            .await;
    }

    async fn unpacked(&mut self, layer: &Descriptor) {
        self.progress
            .send("unpacked", &layer.digest, 0, 0, None)
            .await;
    }
}

/// The download tasks of a pull.
type Tasks = Vec<tokio::task::JoinHandle<Result<()>>>;
/// Per layer digest: `Some(ok)` once its download ended.
type DoneFlags = HashMap<String, watch::Receiver<Option<bool>>>;

/// Starts a download task per distinct layer of `images`; each sets its
/// flag when done. Returns the tasks and the flags by digest.
fn start_downloads(
    source: &Fetching<'_>,
    images: &[Arc<Resolved>],
    progress: &Progress,
) -> (Tasks, DoneFlags) {
    let semaphore = Arc::new(Semaphore::new(PARALLEL_DOWNLOADS));
    let mut flags = HashMap::new();
    let mut downloads = Vec::new();
    for layer in images.iter().flat_map(|i| i.layers()) {
        if flags.contains_key(&layer.digest) {
            continue;
        }
        let (tx, rx) = watch::channel(None);
        flags.insert(layer.digest.clone(), rx);
        let (ctx, ns, fetcher, lease, progress, sem) = (
            source.ctx.clone(),
            source.ns.to_string(),
            source.fetcher.clone(),
            source.lease.to_string(),
            progress.clone(),
            semaphore.clone(),
        );
        downloads.push(tokio::spawn(async move {
            progress
                .send("waiting", &layer.digest, 0, layer.size, None)
                .await;
            let _permit = sem.acquire_owned().await;
            let result = download(ctx, ns, fetcher, layer, lease, progress).await;
            let _ = tx.send(Some(result.is_ok()));
            result
        }));
    }
    (downloads, flags)
}

async fn pull_under_lease(
    source: &Fetching<'_>,
    name: &str,
    root: &Descriptor,
    store: &ImageStore,
    progress: &Progress,
) -> Result<()> {
    let (ctx, ns) = (source.ctx, source.ns);
    if !(media::is_index(&root.media_type) || media::is_manifest(&root.media_type)) {
        return Err(Error::not_implemented(format!(
            "cannot pull {name}: unsupported media type {}",
            root.media_type
        )));
    }
    let resolved: Vec<Arc<Resolved>> = pipeline::resolve_all(source, root, &choices(store))
        .await
        .map_err(|e| e.context(format!("image {name}")))?
        .into_iter()
        .map(Arc::new)
        .collect();
    let (downloads, flags) = start_downloads(source, &resolved, progress);
    let mut unpacks = Vec::new();
    for u in &store.unpacks {
        let want = u.platform.as_ref().map(platform);
        let target = resolved
            .iter()
            .find(|r| want.as_ref().is_none_or(|w| w.matches(&r.platform())))
            .cloned();
        let Some(image) = target else { continue };
        let snapshotter = unpack_snapshotter(ctx, u);
        let mut gate = DownloadGate {
            flags: image
                .layers()
                .iter()
                .filter_map(|l| flags.get(&l.digest).cloned())
                .collect(),
            progress: progress.clone(),
        };
        let content = LocalContent::new(ctx.unpacker.content.clone(), ns);
        let layers = LocalLayers::new(ctx.unpacker.clone(), ns, &snapshotter, Some(source.lease));
        unpacks.push(tokio::spawn(async move {
            pipeline::unpack(&content, &layers, &snapshotter, &image, &mut gate)
                .await
                .map(|_| ())
        }));
    }
    let mut first_error = None;
    for task in downloads.into_iter().chain(unpacks) {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(Error::with_source(
                    ErrorKind::Internal,
                    "pull task",
                    e,
                )))
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e.context(format!("pulling {name}")));
    }
    let image_name = if store.name.is_empty() {
        name.to_string()
    } else {
        store.name.clone()
    };
    save_image(ctx, ns, &image_name, root, store.labels.clone())?;
    progress
        .send(
            "saved",
            &image_name,
            0,
            0,
            Some(descriptor_to_api(root.clone())),
        )
        .await;
    Ok(())
}

fn save_image(
    ctx: &TransferContext,
    ns: &str,
    name: &str,
    target: &Descriptor,
    labels: HashMap<String, String>,
) -> Result<()> {
    let image = Image {
        name: name.to_string(),
        labels,
        target: target.clone(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let created = blocking(|| ctx.images.create(ns, image.clone()));
    match created {
        Ok(img) => {
            let event = crated_api::services::v1::ImageCreate {
                name: img.name,
                labels: img.labels,
            };
            ctx.events.publish_message(ns, "/images/create", &event);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let paths = vec!["target".to_string(), "labels".to_string()];
            let img = blocking(|| ctx.images.update(ns, image, &paths))?;
            let event = crated_api::services::v1::ImageUpdate {
                name: img.name,
                labels: img.labels,
            };
            ctx.events.publish_message(ns, "/images/update", &event);
            Ok(())
        }
        Err(e) => Err(e),
    }
}
