//! Pulling an image from a registry into the image store.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use crated_api::types::transfer::{ImageStore, OciRegistry, UnpackConfiguration};
use crated_core::image::{Descriptor, Image};
use crated_core::{Error, ErrorKind, Result};
use crated_images::walk::{self, PlatformChoice};
use crated_images::{ImageConfig, Manifest, Platform, media};
use crated_remotes::{Fetcher, Resolver, ResolverOptions};
use tokio::sync::{Semaphore, watch};

use super::TransferContext;
use super::progress::Progress;
use crate::services::convert::descriptor_to_api;
use crate::unpack::Resolved;

/// The largest index, manifest or config accepted (containerd's limit).
const MAX_SMALL_BLOB: u64 = 4 * 1048 * 1048;
/// Layers downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;
/// Bytes between two download progress reports.
const PROGRESS_STEP: i64 = 1 << 20;

fn blocking<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    tokio::task::block_in_place(f)
}

/// Writes a small blob (index, manifest, config) with labels; an existing
/// blob gets the labels added.
fn store_blob(
    ctx: &TransferContext,
    ns: &str,
    desc: &Descriptor,
    bytes: &[u8],
    labels: HashMap<String, String>,
    lease: &str,
) -> Result<()> {
    let content = &ctx.unpacker.content;
    let reference = format!("pull-{}", desc.digest);
    match content.writer(ns, &reference, desc.size, &desc.digest, Some(lease)) {
        Ok(mut w) => {
            if w.status()?.offset > 0 {
                w.truncate(0)?;
            }
            w.write(bytes)?;
            match w.commit(desc.size, &desc.digest, labels) {
                Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            if labels.is_empty() {
                return Ok(());
            }
            let mut info = content.info(ns, &desc.digest)?;
            let paths: Vec<String> = labels.keys().map(|k| format!("labels.{k}")).collect();
            info.labels.extend(labels);
            content.update(ns, info, &paths).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

async fn fetch_small(
    ctx: &TransferContext,
    ns: &str,
    fetcher: &Fetcher,
    desc: &Descriptor,
    lease: &str,
) -> Result<Vec<u8>> {
    let bytes = fetcher.fetch_bytes(desc, MAX_SMALL_BLOB).await?.to_vec();
    let children = walk::all_children(desc, &bytes)?;
    let labels = walk::child_labels(desc, &children);
    blocking(|| store_blob(ctx, ns, desc, &bytes, labels, lease))?;
    Ok(bytes)
}

async fn download(
    ctx: TransferContext,
    ns: String,
    fetcher: Fetcher,
    desc: Descriptor,
    lease: String,
    progress: Progress,
) -> Result<()> {
    let content = &ctx.unpacker.content;
    let name = desc.digest.clone();
    if content.info(&ns, &desc.digest).is_ok() {
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
    let reference = format!("layer-{}", desc.digest);
    let mut writer =
        match blocking(|| content.writer(&ns, &reference, desc.size, &desc.digest, Some(&lease))) {
            Ok(w) => w,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
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

/// The platforms to fetch: the requested ones, or all of them when none
/// are named (containerd's meaning of an empty list).
fn choices(store: &ImageStore) -> Vec<PlatformChoice> {
    if store.platforms.is_empty() {
        return vec![PlatformChoice::All];
    }
    store
        .platforms
        .iter()
        .map(|p| {
            PlatformChoice::One(
                Platform {
                    os: p.os.clone(),
                    architecture: p.architecture.clone(),
                    variant: p.variant.clone(),
                    os_version: String::new(),
                }
                .normalized(),
            )
        })
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
/// HTTP, extra headers.
pub fn resolver(registry: &OciRegistry) -> Result<Resolver> {
    let mut options = ResolverOptions::default();
    if let Some(r) = &registry.resolver {
        if !r.host_dir.is_empty() {
            options = options.with_hosts_dir(&r.host_dir);
        }
        options = options.with_plain_http(r.default_scheme == "http");
        options
            .headers
            .extend(r.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
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
    let resolver = resolver(&registry)?;
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
    let result = pull_under_lease(ctx, ns, &fetcher, &name, &root, &store, &lease, &progress).await;
    if let Err(e) = blocking(|| ctx.leases.delete(ns, &lease)) {
        tracing::warn!(namespace = ns, lease, error = %e, "removing pull lease");
    }
    ctx.gc.mutation(true);
    result
}

#[allow(clippy::too_many_arguments)]
async fn pull_under_lease(
    ctx: &TransferContext,
    ns: &str,
    fetcher: &Fetcher,
    name: &str,
    root: &Descriptor,
    store: &ImageStore,
    lease: &str,
    progress: &Progress,
) -> Result<()> {
    let root_bytes = fetch_small(ctx, ns, fetcher, root, lease).await?;
    let mut manifests: Vec<Descriptor> = Vec::new();
    if media::is_index(&root.media_type) {
        for choice in choices(store) {
            for m in walk::children(root, &root_bytes, &choice)? {
                if !manifests.iter().any(|x| x.digest == m.digest) {
                    manifests.push(m);
                }
            }
        }
    } else if media::is_manifest(&root.media_type) {
        manifests.push(root.clone());
    } else {
        return Err(Error::not_implemented(format!(
            "cannot pull {name}: unsupported media type {}",
            root.media_type
        )));
    }
    let mut resolved = Vec::new();
    for m in &manifests {
        let bytes = if m.digest == root.digest {
            root_bytes.clone()
        } else {
            fetch_small(ctx, ns, fetcher, m, lease).await?
        };
        let parsed = Manifest::parse(&bytes)?;
        let config_bytes = fetch_small(ctx, ns, fetcher, &parsed.config.to_core(), lease).await?;
        let config = ImageConfig::parse(&config_bytes)?;
        if config.rootfs.diff_ids.len() != parsed.layers.len() {
            return Err(Error::invalid_argument(format!(
                "image {name}: config lists {} layers, manifest {}",
                config.rootfs.diff_ids.len(),
                parsed.layers.len()
            )));
        }
        resolved.push(Arc::new(Resolved {
            manifest: m.clone(),
            parsed,
            config,
        }));
    }
    let semaphore = Arc::new(Semaphore::new(PARALLEL_DOWNLOADS));
    let mut done_flags: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
    let mut downloads = Vec::new();
    for image in &resolved {
        for layer in &image.parsed.layers {
            if done_flags.contains_key(&layer.digest) {
                continue;
            }
            let (tx, rx) = watch::channel(None);
            done_flags.insert(layer.digest.clone(), rx);
            let (ctx, ns, fetcher, desc, lease, progress, sem) = (
                ctx.clone(),
                ns.to_string(),
                fetcher.clone(),
                layer.to_core(),
                lease.to_string(),
                progress.clone(),
                semaphore.clone(),
            );
            progress
                .send("waiting", &desc.digest, 0, desc.size, None)
                .await;
            downloads.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let result = download(ctx, ns, fetcher, desc, lease, progress).await;
                let _ = tx.send(Some(result.is_ok()));
                result
            }));
        }
    }
    let mut unpacks = Vec::new();
    let configs: Vec<UnpackConfiguration> = store.unpacks.clone();
    for u in &configs {
        let want = u.platform.as_ref().map(|p| Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
            os_version: String::new(),
        });
        let target = resolved
            .iter()
            .find(|r| {
                want.as_ref()
                    .is_none_or(|w| w.matches(&r.config.platform()))
            })
            .cloned();
        let Some(image) = target else { continue };
        let snapshotter = unpack_snapshotter(ctx, u);
        let flags: Vec<watch::Receiver<Option<bool>>> = image
            .parsed
            .layers
            .iter()
            .filter_map(|l| done_flags.get(&l.digest).cloned())
            .collect();
        let (ctx, ns, lease, progress) = (
            ctx.clone(),
            ns.to_string(),
            lease.to_string(),
            progress.clone(),
        );
        unpacks.push(tokio::spawn(async move {
            let mut top = String::new();
            for (i, mut flag) in flags.into_iter().enumerate() {
                let ok = flag
                    .wait_for(|v| v.is_some())
                    .await
                    .map(|v| *v == Some(true))
                    .unwrap_or(false);
                if !ok {
                    return Err(Error::new(
                        ErrorKind::Aborted,
                        "unpack stopped: a layer failed to download",
                    ));
                }
                let digest = image.parsed.layers[i].digest.clone();
                progress.send("unpacking", &digest, 0, 0, None).await;
                let (u, img, ns2, sn, lease2) = (
                    ctx.unpacker.clone(),
                    image.clone(),
                    ns.clone(),
                    snapshotter.clone(),
                    lease.clone(),
                );
                top = tokio::task::spawn_blocking(move || {
                    u.unpack_layer(&ns2, &sn, &img, i, Some(&lease2))
                })
                .await
                .map_err(|e| Error::internal(format!("unpack task: {e}")))??;
                progress.send("unpacked", &digest, 0, 0, None).await;
            }
            let (u, img, sn) = (ctx.unpacker.clone(), image.clone(), snapshotter.clone());
            tokio::task::spawn_blocking(move || u.label_config(&ns, &sn, &img, &top))
                .await
                .map_err(|e| Error::internal(format!("unpack task: {e}")))?
        }));
    }
    let mut first_error = None;
    for d in downloads {
        match d.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(Error::internal(format!("download task: {e}"))))
            }
        }
    }
    for u in unpacks {
        match u.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => {
                first_error = first_error.or(Some(Error::internal(format!("unpack task: {e}"))))
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
