//! `containerd.services.snapshots.v1.Snapshots`.

use std::pin::Pin;

use crated_api::events::{SnapshotCommit, SnapshotPrepare, SnapshotRemove};
use crated_api::server::snapshots_server::{Snapshots, SnapshotsServer};
use crated_api::services::v1::snapshots::{
    CleanupRequest, CommitSnapshotRequest, Info as ApiInfo, Kind as ApiKind, ListSnapshotsRequest,
    ListSnapshotsResponse, MountsRequest, MountsResponse, PrepareSnapshotRequest,
    PrepareSnapshotResponse, RemoveSnapshotRequest, StatSnapshotRequest, StatSnapshotResponse,
    UpdateSnapshotRequest, UpdateSnapshotResponse, UsageRequest, UsageResponse,
    ViewSnapshotRequest, ViewSnapshotResponse,
};
use crated_api::tonic::{Request, Response, Status};
use crated_api::types::Mount as ApiMount;
use crated_core::Error;
use crated_core::filters::{Adaptor, label_field};
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind};
use crated_metadata::NamespacedSnapshots;
use futures::Stream;

use super::events::async_stream;
use super::{GrpcService, blocking, from_timestamp, lease, namespace, parse_filters, timestamp};
use crate::exchange::Exchange;
use crate::gc::GcTrigger;

/// Infos per List response message.
const LIST_BATCH: usize = 100;

/// The Snapshots service.
pub struct SnapshotsService {
    store: NamespacedSnapshots,
    events: Exchange,
    gc: GcTrigger,
}

/// Core mount to wire.
pub fn mount_to_api(m: Mount) -> ApiMount {
    ApiMount {
        r#type: m.mount_type,
        source: m.source,
        target: m.target,
        options: m.options,
    }
}

/// Wire mount to core.
pub fn mount_from_api(m: ApiMount) -> Mount {
    Mount {
        mount_type: m.r#type,
        source: m.source,
        target: m.target,
        options: m.options,
    }
}

fn kind_to_api(k: Kind) -> ApiKind {
    match k {
        Kind::Unknown => ApiKind::Unknown,
        Kind::View => ApiKind::View,
        Kind::Active => ApiKind::Active,
        Kind::Committed => ApiKind::Committed,
    }
}

fn info_to_api(i: Info) -> ApiInfo {
    ApiInfo {
        name: i.name,
        parent: i.parent,
        kind: kind_to_api(i.kind) as i32,
        created_at: Some(timestamp(i.created_at)),
        updated_at: Some(timestamp(i.updated_at)),
        labels: i.labels,
    }
}

fn info_from_api(i: ApiInfo) -> Info {
    let kind = match ApiKind::try_from(i.kind) {
        Ok(ApiKind::View) => Kind::View,
        Ok(ApiKind::Active) => Kind::Active,
        Ok(ApiKind::Committed) => Kind::Committed,
        _ => Kind::Unknown,
    };
    Info {
        kind,
        name: i.name,
        parent: i.parent,
        labels: i.labels,
        created_at: from_timestamp(i.created_at.as_ref()),
        updated_at: from_timestamp(i.updated_at.as_ref()),
    }
}

struct SnapshotFields<'a>(&'a Info);

impl Adaptor for SnapshotFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match path.first().map(String::as_str)? {
            "kind" if path.len() == 1 => Some(self.0.kind.as_str().to_string()),
            "name" if path.len() == 1 => nonempty(&self.0.name),
            "parent" if path.len() == 1 => nonempty(&self.0.parent),
            "labels" => label_field(&self.0.labels, &path[1..]),
            _ => None,
        }
    }
}

fn mounts_to_api(mounts: Vec<Mount>) -> Vec<ApiMount> {
    mounts.into_iter().map(mount_to_api).collect()
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn prepare(
        &self,
        req: Request<PrepareSnapshotRequest>,
    ) -> Result<Response<PrepareSnapshotResponse>, Status> {
        let (ns, lease) = (namespace(&req)?, lease(&req));
        let r = req.into_inner();
        let (store, ns2, r2) = (self.store.clone(), ns.clone(), r.clone());
        let mounts = blocking(move || {
            store.prepare(
                &ns2,
                &r2.snapshotter,
                &r2.key,
                &r2.parent,
                r2.labels,
                lease.as_deref(),
            )
        })
        .await?;
        let event = SnapshotPrepare {
            key: r.key,
            parent: r.parent,
            snapshotter: r.snapshotter,
        };
        self.events
            .publish_message(&ns, "/snapshot/prepare", &event);
        Ok(Response::new(PrepareSnapshotResponse {
            mounts: mounts_to_api(mounts),
        }))
    }

    async fn view(
        &self,
        req: Request<ViewSnapshotRequest>,
    ) -> Result<Response<ViewSnapshotResponse>, Status> {
        let (ns, lease) = (namespace(&req)?, lease(&req));
        let r = req.into_inner();
        let store = self.store.clone();
        let mounts = blocking(move || {
            store.view(
                &ns,
                &r.snapshotter,
                &r.key,
                &r.parent,
                r.labels,
                lease.as_deref(),
            )
        })
        .await?;
        Ok(Response::new(ViewSnapshotResponse {
            mounts: mounts_to_api(mounts),
        }))
    }

    async fn mounts(
        &self,
        req: Request<MountsRequest>,
    ) -> Result<Response<MountsResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let store = self.store.clone();
        let mounts = blocking(move || store.mounts(&ns, &r.snapshotter, &r.key)).await?;
        Ok(Response::new(MountsResponse {
            mounts: mounts_to_api(mounts),
        }))
    }

    async fn commit(&self, req: Request<CommitSnapshotRequest>) -> Result<Response<()>, Status> {
        let (ns, lease) = (namespace(&req)?, lease(&req));
        let r = req.into_inner();
        let (store, ns2, r2) = (self.store.clone(), ns.clone(), r.clone());
        blocking(move || {
            store.commit(
                &ns2,
                &r2.snapshotter,
                &r2.name,
                &r2.key,
                r2.labels,
                lease.as_deref(),
            )
        })
        .await?;
        let event = SnapshotCommit {
            key: r.key,
            name: r.name,
            snapshotter: r.snapshotter,
        };
        self.events.publish_message(&ns, "/snapshot/commit", &event);
        Ok(Response::new(()))
    }

    async fn remove(&self, req: Request<RemoveSnapshotRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let (store, ns2, r2) = (self.store.clone(), ns.clone(), r.clone());
        blocking(move || store.remove(&ns2, &r2.snapshotter, &r2.key)).await?;
        let event = SnapshotRemove {
            key: r.key,
            snapshotter: r.snapshotter,
        };
        self.events.publish_message(&ns, "/snapshot/remove", &event);
        self.gc.mutation(true);
        Ok(Response::new(()))
    }

    async fn stat(
        &self,
        req: Request<StatSnapshotRequest>,
    ) -> Result<Response<StatSnapshotResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let store = self.store.clone();
        let info = blocking(move || store.stat(&ns, &r.snapshotter, &r.key)).await?;
        Ok(Response::new(StatSnapshotResponse {
            info: Some(info_to_api(info)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateSnapshotRequest>,
    ) -> Result<Response<UpdateSnapshotResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let info = r
            .info
            .map(info_from_api)
            .ok_or_else(|| Error::invalid_argument("info must be set"))?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let store = self.store.clone();
        let updated = blocking(move || store.update(&ns, &r.snapshotter, info, &paths)).await?;
        Ok(Response::new(UpdateSnapshotResponse {
            info: Some(info_to_api(updated)),
        }))
    }

    type ListStream = Pin<Box<dyn Stream<Item = Result<ListSnapshotsResponse, Status>> + Send>>;

    async fn list(
        &self,
        req: Request<ListSnapshotsRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let filter = parse_filters(&r.filters)?;
        let store = self.store.clone();
        let infos = blocking(move || store.list(&ns, &r.snapshotter)).await?;
        let matching: Vec<ApiInfo> = infos
            .into_iter()
            .filter(|i| filter.matches(&SnapshotFields(i)))
            .map(info_to_api)
            .collect();
        Ok(Response::new(async_stream(move |tx| async move {
            for chunk in matching.chunks(LIST_BATCH) {
                if tx
                    .send(Ok(ListSnapshotsResponse {
                        info: chunk.to_vec(),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })))
    }

    async fn usage(&self, req: Request<UsageRequest>) -> Result<Response<UsageResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let store = self.store.clone();
        let usage = blocking(move || store.usage(&ns, &r.snapshotter, &r.key)).await?;
        Ok(Response::new(UsageResponse {
            size: usage.size,
            inodes: usage.inodes,
        }))
    }

    async fn cleanup(&self, req: Request<CleanupRequest>) -> Result<Response<()>, Status> {
        namespace(&req)?;
        let r = req.into_inner();
        let store = self.store.clone();
        blocking(move || store.cleanup(&r.snapshotter)).await?;
        Ok(Response::new(()))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: NamespacedSnapshots, events: Exchange, gc: GcTrigger) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            SnapshotsServer::new(SnapshotsService {
                store: store.clone(),
                events: events.clone(),
                gc: gc.clone(),
            })
        )
    })
}
