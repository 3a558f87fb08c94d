//! The ttrpc face of the task service. The handlers are registered under
//! both `containerd.task.v2.Task` (containerd 1.x) and
//! `containerd.task.v3.Task` (containerd 2.x): the messages are identical,
//! only the package name differs.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use crated_api::ttrpc::api::{
    CheckpointTaskRequest, CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest,
    CreateTaskResponse, DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest,
    PauseRequest, PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest,
    StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse,
    UpdateTaskRequest, WaitRequest, WaitResponse,
};
use crated_api::ttrpc::protobuf::MessageField;
use crated_api::ttrpc::shim_async::{Task, create_task};
use crated_api::ttrpc::ttrpc::Result as TtrpcResult;
use crated_api::ttrpc::ttrpc::r#async::{Service, TtrpcContext};

use super::Shim;
use crate::error::Result;

/// The service names the handlers answer to.
pub const SERVICE_NAMES: [&str; 2] = ["containerd.task.v2.Task", "containerd.task.v3.Task"];

/// The ttrpc service map for `shim`, under every name in [`SERVICE_NAMES`].
pub fn services(shim: Arc<Shim>) -> HashMap<String, Service> {
    let task: Arc<dyn Task + Send + Sync> = Arc::new(TaskService { shim });
    let mut out = HashMap::new();
    for name in SERVICE_NAMES {
        // The generated map has the v3 name; each copy is re-keyed.
        if let Some(service) = create_task(task.clone()).into_values().next() {
            out.insert(name.to_string(), service);
        }
    }
    out
}

struct TaskService {
    shim: Arc<Shim>,
}

fn reply<T>(r: Result<T>) -> TtrpcResult<T> {
    r.map_err(|e| {
        tracing::debug!(error = %e, "request failed");
        crated_api::ttrpc::ttrpc::Error::from(e)
    })
}

#[async_trait]
impl Task for TaskService {
    async fn state(&self, _: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        reply(self.shim.task_state(&req.id, &req.exec_id))
    }

    async fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        tracing::debug!(id = %req.id, bundle = %req.bundle, "create");
        let pid = reply(self.shim.create(req).await)?;
        let mut r = CreateTaskResponse::new();
        r.pid = pid;
        Ok(r)
    }

    async fn start(&self, _: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        tracing::debug!(id = %req.id, exec_id = %req.exec_id, "start");
        let pid = if req.exec_id.is_empty() {
            self.shim.start_init(&req.id).await
        } else {
            self.shim.start_exec(&req.id, &req.exec_id).await
        };
        let mut r = StartResponse::new();
        r.pid = reply(pid)?;
        Ok(r)
    }

    async fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        tracing::debug!(id = %req.id, exec_id = %req.exec_id, "delete");
        reply(if req.exec_id.is_empty() {
            self.shim.delete_init(&req.id).await
        } else {
            self.shim.delete_exec(&req.id, &req.exec_id).await
        })
    }

    async fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let mut r = PidsResponse::new();
        r.processes = reply(self.shim.pids(&req.id).await)?;
        Ok(r)
    }

    async fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        reply(self.shim.pause(&req.id).await).map(|()| Empty::new())
    }

    async fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        reply(self.shim.resume(&req.id).await).map(|()| Empty::new())
    }

    async fn checkpoint(&self, _: &TtrpcContext, req: CheckpointTaskRequest) -> TtrpcResult<Empty> {
        reply(self.shim.checkpoint(&req).await).map(|()| Empty::new())
    }

    async fn kill(&self, _: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        tracing::debug!(id = %req.id, exec_id = %req.exec_id, signal = req.signal, all = req.all, "kill");
        reply(
            self.shim
                .kill(&req.id, &req.exec_id, req.signal, req.all)
                .await,
        )
        .map(|()| Empty::new())
    }

    async fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        tracing::debug!(id = %req.id, exec_id = %req.exec_id, "exec");
        reply(self.shim.exec(req)).map(|()| Empty::new())
    }

    async fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        reply(
            self.shim
                .resize_pty(&req.id, &req.exec_id, req.width, req.height),
        )
        .map(|()| Empty::new())
    }

    async fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        reply(self.shim.close_io(&req.id, &req.exec_id)).map(|()| Empty::new())
    }

    async fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        reply(self.shim.update(&req).await).map(|()| Empty::new())
    }

    async fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        reply(self.shim.wait(&req.id, &req.exec_id).await)
    }

    async fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let mut r = StatsResponse::new();
        r.stats = MessageField::some(reply(self.shim.stats(&req.id))?);
        Ok(r)
    }

    async fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let mut r = ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self.shim.task_pid(&req.id);
        Ok(r)
    }

    async fn shutdown(&self, _: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        if self.shim.shutdown_if_idle() {
            tracing::debug!("shutdown requested");
        }
        Ok(Empty::new())
    }
}
