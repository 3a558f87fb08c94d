//! `containerd.services.tasks.v1.Tasks`: tasks are running processes,
//! each driven by its runtime v2 shim.

use std::sync::Arc;

use crated_api::server::tasks_server::{Tasks, TasksServer};
use crated_api::services::v1::{
    CheckpointTaskRequest, CheckpointTaskResponse, CloseIoRequest, CreateTaskRequest,
    CreateTaskResponse, DeleteProcessRequest, DeleteResponse, DeleteTaskRequest,
    ExecProcessRequest, GetRequest, GetResponse, KillRequest, ListPidsRequest, ListPidsResponse,
    ListTasksRequest, ListTasksResponse, MetricsRequest, MetricsResponse, PauseTaskRequest,
    ResizePtyRequest, ResumeTaskRequest, StartRequest, StartResponse, UpdateTaskRequest,
    WaitRequest, WaitResponse,
};
use crated_api::tonic::{Request, Response, Status};
use crated_api::ttrpc::api;
use crated_api::types::Metric;
use crated_core::Error;
use crated_core::filters::adaptor_fn;
use crated_metadata::{Containers, NamespacedSnapshots};
use crated_runtime::{CreateOptions, Shim, ShimManager};

use super::checkpoint;
use super::introspection::IntrospectionState;
use super::task_convert::{
    any_from_shim, any_to_shim, mount_to_shim, process_from_state, process_info_from_shim,
    time_from_shim,
};
use super::{GrpcService, blocking, namespace, parse_filters, timestamp};

/// The Tasks service.
pub struct TasksService {
    manager: Arc<ShimManager>,
    containers: Containers,
    content: crated_metadata::NamespacedContent,
    snapshots: Option<NamespacedSnapshots>,
    introspection: Arc<IntrospectionState>,
}

fn shim_of(manager: &ShimManager, ns: &str, id: &str) -> Result<Arc<Shim>, Status> {
    manager.get(ns, id).map_err(Status::from)
}

async fn state(shim: &Shim, id: &str, exec_id: &str) -> Result<api::StateResponse, Status> {
    let mut req = api::StateRequest::new();
    req.id = id.to_string();
    req.exec_id = exec_id.to_string();
    shim.state(&req).await.map_err(Status::from)
}

impl TasksService {
    /// Unpacks the checkpoint `desc` into a fresh directory for the shim to
    /// restore from; nothing is left behind when that fails.
    async fn restore_checkpoint(
        &self,
        ns: &str,
        id: &str,
        desc: &crated_api::types::Descriptor,
    ) -> Result<std::path::PathBuf, Status> {
        let (content, ns, id) = (self.content.clone(), ns.to_string(), id.to_string());
        let desc = super::convert::descriptor_from_api(desc.clone());
        blocking(move || {
            let dir = checkpoint::work_dir("restore", &ns, &id)?;
            checkpoint::restore_dir(&content, &ns, &desc, &dir)
                .map(|()| dir.clone())
                .inspect_err(|_| {
                    let _ = std::fs::remove_dir_all(&dir);
                })
        })
        .await
    }

    /// The rootfs mounts: from the request, else from the container's snapshot.
    async fn rootfs(
        &self,
        ns: &str,
        req: &CreateTaskRequest,
        container: &crated_core::container::Container,
    ) -> Result<Vec<api::Mount>, Status> {
        if !req.rootfs.is_empty() || container.snapshot_key.is_empty() {
            return Ok(req.rootfs.iter().map(mount_to_shim).collect());
        }
        let Some(snapshots) = self.snapshots.clone() else {
            return Err(Status::from(Error::failed_precondition(
                "no snapshotter is loaded to provide the container's rootfs",
            )));
        };
        let (ns, sn, key) = (
            ns.to_string(),
            container.snapshotter.clone(),
            container.snapshot_key.clone(),
        );
        let mounts = blocking(move || snapshots.mounts(&ns, &sn, &key)).await?;
        Ok(mounts
            .into_iter()
            .map(|m| mount_to_shim(&super::snapshots::mount_to_api(m)))
            .collect())
    }
}

#[tonic::async_trait]
impl Tasks for TasksService {
    async fn create(
        &self,
        req: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let (containers, ns2, id) = (
            self.containers.clone(),
            ns.clone(),
            req.container_id.clone(),
        );
        let container = blocking(move || containers.get(&ns2, &id)).await?;
        let spec = container
            .spec
            .as_ref()
            .map(|s| s.value.clone())
            .ok_or_else(|| {
                Status::from(Error::failed_precondition(format!(
                    "container {} has no spec",
                    container.id
                )))
            })?;
        let rootfs = self.rootfs(&ns, &req, &container).await?;
        let options = req.options.as_ref().map(any_to_shim).or_else(|| {
            container
                .runtime
                .options
                .as_ref()
                .map(|o| any_to_shim(&super::convert::any_to_api(o.clone())))
        });
        let restore = match &req.checkpoint {
            Some(desc) => Some(
                self.restore_checkpoint(&ns, &req.container_id, desc)
                    .await?,
            ),
            None => None,
        };
        let (runtime, options) = if req.runtime_path.is_empty() {
            super::legacy_runtime::effective(&container.runtime.name, options, &self.introspection)?
        } else {
            (req.runtime_path.clone(), options)
        };
        let opts = CreateOptions {
            runtime,
            spec,
            rootfs,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            terminal: req.terminal,
            checkpoint: restore
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            options,
        };
        tracing::info!(namespace = %ns, id = %req.container_id, runtime = %opts.runtime, "creating task");
        let created = self.manager.create(&ns, &req.container_id, opts).await;
        if created.is_err()
            && let Some(dir) = &restore
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        let (_, pid) = created?;
        Ok(Response::new(CreateTaskResponse {
            container_id: req.container_id,
            pid,
        }))
    }

    async fn start(&self, req: Request<StartRequest>) -> Result<Response<StartResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::StartRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        let resp = shim.start(&r).await?;
        Ok(Response::new(StartResponse { pid: resp.pid }))
    }

    async fn delete(
        &self,
        req: Request<DeleteTaskRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().container_id;
        let resp = self.manager.delete(&ns, &id).await?;
        checkpoint::remove_restore_dirs(&ns, &id);
        Ok(Response::new(DeleteResponse {
            id,
            pid: resp.pid,
            exit_status: resp.exit_status,
            exited_at: time_from_shim(resp.exited_at.as_ref()),
        }))
    }

    async fn delete_process(
        &self,
        req: Request<DeleteProcessRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::DeleteRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id.clone();
        let resp = shim.delete(&r).await?;
        Ok(Response::new(DeleteResponse {
            id: req.exec_id,
            pid: resp.pid,
            exit_status: resp.exit_status,
            exited_at: time_from_shim(resp.exited_at.as_ref()),
        }))
    }

    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let s = state(&shim, &req.container_id, &req.exec_id).await?;
        Ok(Response::new(GetResponse {
            process: Some(process_from_state(&req.container_id, &s)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let ns = namespace(&req)?;
        let mut tasks = Vec::new();
        for shim in self.manager.list(&ns) {
            match state(&shim, &shim.bundle.id, "").await {
                Ok(s) => tasks.push(process_from_state(&shim.bundle.id, &s)),
                Err(e) => {
                    tracing::warn!(id = %shim.bundle.id, error = %e, "task state unavailable")
                }
            }
        }
        Ok(Response::new(ListTasksResponse { tasks }))
    }

    async fn kill(&self, req: Request<KillRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::KillRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        r.signal = req.signal;
        r.all = req.all;
        shim.kill(&r).await?;
        Ok(Response::new(()))
    }

    async fn exec(&self, req: Request<ExecProcessRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        if req.exec_id.is_empty() {
            return Err(Status::from(Error::invalid_argument(
                "exec id must not be empty",
            )));
        }
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::ExecProcessRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        r.terminal = req.terminal;
        r.stdin = req.stdin;
        r.stdout = req.stdout;
        r.stderr = req.stderr;
        r.spec = req.spec.as_ref().map(any_to_shim).into();
        shim.exec(&r).await?;
        Ok(Response::new(()))
    }

    async fn resize_pty(&self, req: Request<ResizePtyRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::ResizePtyRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        r.width = req.width;
        r.height = req.height;
        shim.resize_pty(&r).await?;
        Ok(Response::new(()))
    }

    async fn close_io(&self, req: Request<CloseIoRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::CloseIORequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        r.stdin = req.stdin;
        shim.close_io(&r).await?;
        Ok(Response::new(()))
    }

    async fn pause(&self, req: Request<PauseTaskRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().container_id;
        let shim = shim_of(&self.manager, &ns, &id)?;
        let mut r = api::PauseRequest::new();
        r.id = id;
        shim.pause(&r).await?;
        Ok(Response::new(()))
    }

    async fn resume(&self, req: Request<ResumeTaskRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().container_id;
        let shim = shim_of(&self.manager, &ns, &id)?;
        let mut r = api::ResumeRequest::new();
        r.id = id;
        shim.resume(&r).await?;
        Ok(Response::new(()))
    }

    async fn list_pids(
        &self,
        req: Request<ListPidsRequest>,
    ) -> Result<Response<ListPidsResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().container_id;
        let shim = shim_of(&self.manager, &ns, &id)?;
        let mut r = api::PidsRequest::new();
        r.id = id;
        let resp = shim.pids(&r).await?;
        let processes = resp.processes.iter().map(process_info_from_shim).collect();
        Ok(Response::new(ListPidsResponse { processes }))
    }

    async fn checkpoint(
        &self,
        req: Request<CheckpointTaskRequest>,
    ) -> Result<Response<CheckpointTaskResponse>, Status> {
        let ns = namespace(&req)?;
        let lease = super::lease(&req);
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let (ns2, id) = (ns.clone(), req.container_id.clone());
        let dir = blocking(move || checkpoint::work_dir("checkpoint", &ns2, &id)).await?;
        let mut r = api::CheckpointTaskRequest::new();
        r.id = req.container_id.clone();
        r.path = dir.display().to_string();
        r.options = req.options.as_ref().map(any_to_shim).into();
        let taken = shim.checkpoint(&r).await;
        let stored = match taken {
            Ok(_) => {
                let (content, containers, ns2, id, dir2) = (
                    self.content.clone(),
                    self.containers.clone(),
                    ns.clone(),
                    req.container_id.clone(),
                    dir.clone(),
                );
                blocking(move || {
                    let image = checkpoint::store_dir(&content, &ns2, &dir2, lease.as_deref())?;
                    let container = containers.get(&ns2, &id)?;
                    let mut out = vec![image];
                    if let Some(spec) = container.spec {
                        let spec = super::convert::any_to_api(spec);
                        out.push(checkpoint::store_spec(
                            &content,
                            &ns2,
                            &spec,
                            lease.as_deref(),
                        )?);
                    }
                    Ok(out)
                })
                .await
            }
            Err(e) => Err(Status::from(
                e.context(format!("checkpoint of task {}", req.container_id)),
            )),
        };
        let _ = std::fs::remove_dir_all(&dir);
        let descriptors = stored?
            .into_iter()
            .map(super::convert::descriptor_to_api)
            .collect();
        Ok(Response::new(CheckpointTaskResponse { descriptors }))
    }

    async fn update(&self, req: Request<UpdateTaskRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::UpdateTaskRequest::new();
        r.id = req.container_id;
        r.resources = req.resources.as_ref().map(any_to_shim).into();
        r.annotations = req.annotations;
        shim.update(&r).await?;
        Ok(Response::new(()))
    }

    async fn metrics(
        &self,
        req: Request<MetricsRequest>,
    ) -> Result<Response<MetricsResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let mut metrics = Vec::new();
        for shim in self.manager.list(&ns) {
            let id = shim.bundle.id.clone();
            let fields = adaptor_fn(|path: &[String]| match path.first().map(String::as_str) {
                Some("id") => Some(id.clone()),
                Some("namespace") => Some(ns.clone()),
                _ => None,
            });
            if !filter.matches(&fields) {
                continue;
            }
            let collected = chrono::Utc::now();
            let mut r = api::StatsRequest::new();
            r.id = id.clone();
            match shim.stats(&r).await {
                Ok(resp) => metrics.push(Metric {
                    timestamp: Some(timestamp(collected)),
                    id,
                    data: resp.stats.as_ref().map(any_from_shim),
                }),
                Err(e) => tracing::warn!(id = %id, error = %e, "collecting metrics"),
            }
        }
        Ok(Response::new(MetricsResponse { metrics }))
    }

    async fn wait(&self, req: Request<WaitRequest>) -> Result<Response<WaitResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let shim = shim_of(&self.manager, &ns, &req.container_id)?;
        let mut r = api::WaitRequest::new();
        r.id = req.container_id;
        r.exec_id = req.exec_id;
        let resp = shim.wait(&r).await?;
        Ok(Response::new(WaitResponse {
            exit_status: resp.exit_status,
            exited_at: time_from_shim(resp.exited_at.as_ref()),
        }))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(
    manager: Arc<ShimManager>,
    containers: Containers,
    content: crated_metadata::NamespacedContent,
    snapshots: Option<NamespacedSnapshots>,
    introspection: Arc<IntrospectionState>,
) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            TasksServer::new(TasksService {
                manager: manager.clone(),
                containers: containers.clone(),
                content: content.clone(),
                snapshots: snapshots.clone(),
                introspection: introspection.clone(),
            })
        )
    })
}
