//! `containerd.services.diff.v1.Diff`: apply layers onto snapshot mounts,
//! and turn the difference between two mounts into a layer in the content
//! store.

use std::collections::HashMap;
use std::io::Write;

use crated_api::server::diff_server::{Diff, DiffServer};
use crated_api::services::v1::{ApplyRequest, ApplyResponse, DiffRequest, DiffResponse};
use crated_api::tonic::{Request, Response, Status};
use crated_api::types::Descriptor;
use crated_core::Error;
use crated_diff::{ApplyConfig, LAYER_TAR, UNCOMPRESSED_LABEL};
use crated_metadata::{NamespacedContent, NamespacedWriter};

use super::snapshots::mount_from_api;
use super::{GrpcService, blocking, lease, namespace};

/// The Diff service.
pub struct DiffService {
    content: NamespacedContent,
    config: ApplyConfig,
}

/// Writes into a content ingest, counting bytes.
pub(crate) struct IngestWriter {
    pub(crate) inner: NamespacedWriter,
    pub(crate) written: i64,
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(std::io::Error::from)?;
        self.written += buf.len() as i64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tonic::async_trait]
impl Diff for DiffService {
    async fn apply(&self, req: Request<ApplyRequest>) -> Result<Response<ApplyResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let desc = req
            .diff
            .ok_or_else(|| Error::invalid_argument("diff descriptor must be set"))?;
        let mounts: Vec<_> = req.mounts.into_iter().map(mount_from_api).collect();
        let (content, config) = (self.content.clone(), self.config.clone());
        let digest = desc.digest.clone();
        let stats = blocking(move || {
            let reader = content.reader_at(&ns, &desc.digest)?;
            let reader = crate::unpack::BlobReader::new(reader);
            crated_diff::apply(&mounts, &desc.media_type, reader, &config)
                .map_err(|e| e.context(format!("apply layer {}", desc.digest)))
        })
        .await?;
        tracing::debug!(layer = %digest, diff_id = %stats.diff_id, entries = stats.entries, "applied layer");
        Ok(Response::new(ApplyResponse {
            applied: Some(Descriptor {
                media_type: LAYER_TAR.to_string(),
                digest: stats.diff_id,
                size: stats.content_bytes as i64,
                annotations: HashMap::new(),
            }),
        }))
    }

    async fn diff(&self, req: Request<DiffRequest>) -> Result<Response<DiffResponse>, Status> {
        let ns = namespace(&req)?;
        let lease = lease(&req);
        let req = req.into_inner();
        let (compression, media_type) = crated_diff::compression_for(&req.media_type)?;
        let left: Vec<_> = req.left.into_iter().map(mount_from_api).collect();
        let right: Vec<_> = req.right.into_iter().map(mount_from_api).collect();
        let reference = if req.r#ref.is_empty() {
            super::unique_name("diff")
        } else {
            req.r#ref
        };
        let content = self.content.clone();
        let mut labels = req.labels;
        let media = media_type.clone();
        let (digest, size) = blocking(move || {
            let writer = content.writer(&ns, &reference, 0, "", lease.as_deref())?;
            let mut out = IngestWriter {
                inner: writer,
                written: 0,
            };
            let result = crated_diff::compare(&left, &right, compression, &mut out);
            let stats = match result {
                Ok(stats) => stats,
                Err(e) => {
                    drop(out);
                    let _ = content.abort(&ns, &reference);
                    return Err(e.context("diff"));
                }
            };
            labels.insert(UNCOMPRESSED_LABEL.to_string(), stats.diff_id.clone());
            let size = out.written;
            let digest = match out.inner.commit(size, "", labels) {
                Ok(d) => d,
                Err(e) if e.kind() == crated_core::ErrorKind::AlreadyExists => out.inner.digest(),
                Err(e) => return Err(e),
            };
            Ok::<_, Error>((digest, size))
        })
        .await?;
        Ok(Response::new(DiffResponse {
            diff: Some(Descriptor {
                media_type: media,
                digest,
                size,
                annotations: HashMap::new(),
            }),
        }))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(content: NamespacedContent, config: ApplyConfig) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            DiffServer::new(DiffService {
                content: content.clone(),
                config: config.clone(),
            })
        )
    })
}
