//! Pushing an image from the image store to a registry: blobs first, then
//! manifests, then the root under the reference's tag.

use std::io::Read;

use crated_api::prost::bytes::Bytes;
use crated_api::types::transfer::{ImageStore, OciRegistry};
use crated_core::image::Descriptor;
use crated_core::{Error, Result};
use crated_images::media;
use crated_images::pipeline;
use crated_images::walk::{self, PlatformChoice};
use crated_remotes::{PushOutcome, Pusher, Resolver};
use tokio::io::AsyncWriteExt;

use super::TransferContext;
use super::progress::Progress;
use crate::services::convert::descriptor_to_api;
use crate::unpack::{BlobReader, LocalContent};

/// Reads an index or manifest, bounded as the pipeline bounds documents.
async fn read_small(ctx: &TransferContext, ns: &str, desc: &Descriptor) -> Result<Vec<u8>> {
    let content = LocalContent::new(ctx.unpacker.content.clone(), ns);
    pipeline::read_document(&content, desc).await
}

/// Streams a blob from the content store to the pusher.
async fn push_blob(
    ctx: &TransferContext,
    ns: &str,
    pusher: &Pusher,
    desc: &Descriptor,
) -> Result<PushOutcome> {
    let reader = ctx.unpacker.content.reader_at(ns, &desc.digest)?;
    let (mut tx, rx) = tokio::io::duplex(1 << 20);
    let handle = tokio::runtime::Handle::current();
    let feeder = tokio::task::spawn_blocking(move || {
        let mut blob = BlobReader::new(reader);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = blob.read(&mut buf).map_err(|e| {
                Error::with_source(crated_core::ErrorKind::Internal, "reading blob", e)
            })?;
            if n == 0 {
                break;
            }
            if handle.block_on(tx.write_all(&buf[..n])).is_err() {
                break;
            }
        }
        Ok::<_, Error>(())
    });
    let outcome = pusher.push_reader(desc, rx).await;
    feeder.await.map_err(|e| {
        Error::with_source(crated_core::ErrorKind::Internal, "blob reader task", e)
    })??;
    outcome
}

/// Pushes image `store.name` to `registry.reference`.
pub async fn push(
    ctx: &TransferContext,
    ns: &str,
    store: ImageStore,
    registry: OciRegistry,
    resolver: Resolver,
    progress: Progress,
) -> Result<()> {
    let images = ctx.images.clone();
    let (owned_ns, name) = (ns.to_string(), store.name.clone());
    let image = crate::blocking::run(move || images.get(&owned_ns, &name)).await?;
    let pusher = resolver.pusher(&registry.reference)?;
    let root = image.target.clone();
    let mut order: Vec<Descriptor> = Vec::new();
    let mut stack = vec![(root.clone(), false)];
    while let Some((desc, expanded)) = stack.pop() {
        if expanded || !(media::is_index(&desc.media_type) || media::is_manifest(&desc.media_type))
        {
            if !order.iter().any(|d| d.digest == desc.digest) {
                order.push(desc);
            }
            continue;
        }
        let bytes = read_small(ctx, ns, &desc).await?;
        let present: Vec<Descriptor> = walk::children(&desc, &bytes, &PlatformChoice::All)?
            .into_iter()
            .filter(|c| ctx.unpacker.content.info(ns, &c.digest).is_ok())
            .collect();
        stack.push((desc, true));
        stack.extend(present.into_iter().map(|c| (c, false)));
    }
    for desc in order.iter().filter(|d| d.digest != root.digest) {
        progress
            .send("uploading", &desc.digest, 0, desc.size, None)
            .await;
        let outcome = if media::is_index(&desc.media_type) || media::is_manifest(&desc.media_type) {
            let bytes = read_small(ctx, ns, desc).await?;
            pusher.push_bytes(desc, Bytes::from(bytes)).await?
        } else {
            push_blob(ctx, ns, &pusher, desc).await?
        };
        let event = match outcome {
            PushOutcome::AlreadyExists => "already exists",
            PushOutcome::Mounted { .. } => "mounted",
            PushOutcome::Pushed => "complete",
        };
        progress
            .send(
                event,
                &desc.digest,
                desc.size,
                desc.size,
                Some(descriptor_to_api(desc.clone())),
            )
            .await;
    }
    let bytes = read_small(ctx, ns, &root).await?;
    pusher.push_root(&root, Bytes::from(bytes)).await?;
    progress
        .send(
            "pushed",
            &registry.reference,
            root.size,
            root.size,
            Some(descriptor_to_api(root)),
        )
        .await;
    Ok(())
}
