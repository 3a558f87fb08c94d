//! The tasks service: the running processes of containers, each driven by
//! its runtime v2 shim.

use chrono::{DateTime, Utc};
use crated_api::services::v1::tasks_client::TasksClient;
use crated_api::services::v1::{
    CloseIoRequest, CreateTaskRequest, DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest,
    GetRequest, KillRequest, ListPidsRequest, ListTasksRequest, MetricsRequest, PauseTaskRequest,
    ResizePtyRequest, ResumeTaskRequest, StartRequest, UpdateTaskRequest, WaitRequest,
};
use crated_api::types::Mount;
use crated_api::types::v1::{Process as ApiProcess, Status as ApiStatus};
use prost_types::Any;

use crate::client::Client;
use crate::convert;
use crate::error::{Error, Result};

/// Handle on the tasks service.
#[derive(Debug, Clone)]
pub struct Tasks {
    client: Client,
}

/// The state of a task or process, as containerd names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The state is not known.
    Unknown,
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Stopped,
    /// Frozen.
    Paused,
    /// Being frozen.
    Pausing,
}

impl Status {
    /// containerd's name of the state, as `ctr tasks ls` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "UNKNOWN",
            Status::Created => "CREATED",
            Status::Running => "RUNNING",
            Status::Stopped => "STOPPED",
            Status::Paused => "PAUSED",
            Status::Pausing => "PAUSING",
        }
    }

    fn from_wire(value: i32) -> Status {
        match ApiStatus::try_from(value) {
            Ok(ApiStatus::Created) => Status::Created,
            Ok(ApiStatus::Running) => Status::Running,
            Ok(ApiStatus::Stopped) => Status::Stopped,
            Ok(ApiStatus::Paused) => Status::Paused,
            Ok(ApiStatus::Pausing) => Status::Pausing,
            _ => Status::Unknown,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's or exec process's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The container the process belongs to.
    pub container_id: String,
    /// The process id within the task: the container id for the init
    /// process, the exec id for an exec'd one.
    pub id: String,
    /// The host pid (0 when not started or unknown).
    pub pid: u32,
    /// The state.
    pub status: Status,
    /// The stdin FIFO path (may be empty).
    pub stdin: String,
    /// The stdout FIFO path (may be empty).
    pub stdout: String,
    /// The stderr FIFO path (may be empty).
    pub stderr: String,
    /// Whether the process has a terminal.
    pub terminal: bool,
    /// The exit status once stopped.
    pub exit_status: u32,
    /// When it exited.
    pub exited_at: Option<DateTime<Utc>>,
}

impl From<ApiProcess> for Process {
    fn from(p: ApiProcess) -> Self {
        Process {
            container_id: p.container_id,
            id: p.id,
            pid: p.pid,
            status: Status::from_wire(p.status),
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
            terminal: p.terminal,
            exit_status: p.exit_status,
            exited_at: convert::optional_time(p.exited_at.as_ref()),
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit status: the exit code, or 128 + the signal that killed it.
    pub code: u32,
    /// When it exited.
    pub exited_at: Option<DateTime<Utc>>,
}

/// The stdio of a new process: FIFO paths (or log URIs such as
/// `binary:///path` and `file:///path` for stdout and stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stdio {
    /// Where the process's stdin comes from; empty for none.
    pub stdin: String,
    /// Where its stdout goes; empty for none.
    pub stdout: String,
    /// Where its stderr goes; empty for none (and with a terminal).
    pub stderr: String,
    /// Whether the process gets a terminal (the shim's console).
    pub terminal: bool,
}

/// What to create a task with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateTask {
    /// The container whose task to create.
    pub container_id: String,
    /// Root filesystem mounts; empty when the container's spec names a
    /// root directory, or to let the daemon ask the container's snapshot.
    pub rootfs: Vec<Mount>,
    /// The stdio of the init process.
    pub stdio: Stdio,
    /// Runtime options overriding the container's.
    pub options: Option<Any>,
    /// A runtime binary path overriding the runtime's.
    pub runtime_path: String,
}

/// A process entry of a task (`ctr tasks ps`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// The host pid.
    pub pid: u32,
    /// Runtime-specific information, e.g. `containerd.runc.v1.ProcessDetails`.
    pub info: Option<Any>,
}

/// One task's metrics (`io.containerd.cgroups.v1.Metrics` or v2).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// When the metrics were collected.
    pub timestamp: Option<DateTime<Utc>>,
    /// The task (container) id.
    pub id: String,
    /// The metrics.
    pub data: Option<Any>,
}

/// A task's cgroup statistics as its shim reports them.
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupMetrics {
    /// `io.containerd.cgroups.v1.Metrics`.
    V1(crated_api::ttrpc::cgroups::metrics::Metrics),
    /// `io.containerd.cgroups.v2.Metrics`.
    V2(crated_api::ttrpc::cgroups_v2::metrics::Metrics),
}

impl Metric {
    /// The cgroup v1 or v2 statistics in [`Metric::data`].
    pub fn decode(&self) -> Result<CgroupMetrics> {
        use crated_api::ttrpc::protobuf::Message as _;
        use crated_api::ttrpc::{cgroups, cgroups_v2};
        let any = self.data.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!("task {} sent no metrics data", self.id))
        })?;
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let unreadable = |e: crated_api::ttrpc::protobuf::Error| {
            Error::InvalidArgument(format!("metrics of task {} are unreadable: {e}", self.id))
        };
        match name {
            "io.containerd.cgroups.v1.Metrics" => {
                cgroups::metrics::Metrics::parse_from_bytes(&any.value)
                    .map(CgroupMetrics::V1)
                    .map_err(unreadable)
            }
            "io.containerd.cgroups.v2.Metrics" => {
                cgroups_v2::metrics::Metrics::parse_from_bytes(&any.value)
                    .map(CgroupMetrics::V2)
                    .map_err(unreadable)
            }
            other => Err(Error::InvalidArgument(format!(
                "cannot convert metric data of type {other:?} of task {} to cgroups metrics",
                self.id
            ))),
        }
    }
}

impl Tasks {
    pub(crate) fn new(client: Client) -> Self {
        Tasks { client }
    }

    fn grpc(&self) -> TasksClient<tonic::transport::Channel> {
        grpc_client!(self.client, TasksClient)
    }

    /// Creates the task of a container; returns the init process's pid.
    pub async fn create(&self, task: CreateTask) -> Result<u32> {
        let request = self.client.unary_request(CreateTaskRequest {
            container_id: task.container_id,
            rootfs: task.rootfs,
            stdin: task.stdio.stdin,
            stdout: task.stdio.stdout,
            stderr: task.stdio.stderr,
            terminal: task.stdio.terminal,
            checkpoint: None,
            options: task.options,
            runtime_path: task.runtime_path,
        })?;
        let response = self
            .client
            .unary("tasks create", self.grpc().create(request))
            .await?;
        Ok(response.pid)
    }

    /// Starts the task's init process (`exec_id` empty) or an exec'd one;
    /// returns its pid.
    pub async fn start(&self, container_id: &str, exec_id: &str) -> Result<u32> {
        let request = self.client.unary_request(StartRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        })?;
        let response = self
            .client
            .unary("tasks start", self.grpc().start(request))
            .await?;
        Ok(response.pid)
    }

    /// Deletes a stopped task; returns how its init process ended.
    pub async fn delete(&self, container_id: &str) -> Result<ExitStatus> {
        let request = self.client.unary_request(DeleteTaskRequest {
            container_id: container_id.to_string(),
        })?;
        let response = self
            .client
            .unary("tasks delete", self.grpc().delete(request))
            .await?;
        Ok(ExitStatus {
            code: response.exit_status,
            exited_at: convert::optional_time(response.exited_at.as_ref()),
        })
    }

    /// Deletes an exited exec process.
    pub async fn delete_process(&self, container_id: &str, exec_id: &str) -> Result<ExitStatus> {
        let request = self.client.unary_request(DeleteProcessRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        })?;
        let response = self
            .client
            .unary("tasks delete process", self.grpc().delete_process(request))
            .await?;
        Ok(ExitStatus {
            code: response.exit_status,
            exited_at: convert::optional_time(response.exited_at.as_ref()),
        })
    }

    /// The state of the task's init process (`exec_id` empty) or an exec'd
    /// one.
    pub async fn get(&self, container_id: &str, exec_id: &str) -> Result<Process> {
        let request = self.client.unary_request(GetRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        })?;
        let response = self
            .client
            .unary("tasks get", self.grpc().get(request))
            .await?;
        response
            .process
            .map(Process::from)
            .ok_or_else(|| Error::protocol("tasks get: the answer has no process"))
    }

    /// All tasks of the namespace.
    pub async fn list(&self) -> Result<Vec<Process>> {
        let request = self.client.unary_request(ListTasksRequest {
            filter: String::new(),
        })?;
        let response = self
            .client
            .unary("tasks list", self.grpc().list(request))
            .await?;
        Ok(response.tasks.into_iter().map(Process::from).collect())
    }

    /// Sends `signal` to the init process, an exec'd one, or with `all` to
    /// every process of the task.
    pub async fn kill(
        &self,
        container_id: &str,
        exec_id: &str,
        signal: u32,
        all: bool,
    ) -> Result<()> {
        let request = self.client.unary_request(KillRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            signal,
            all,
        })?;
        self.client
            .unary("tasks kill", self.grpc().kill(request))
            .await
    }

    /// Adds process `exec_id` running `process` (an OCI process spec, see
    /// [`crate::spec::process_to_any`]) to the task; start it with
    /// [`Tasks::start`].
    pub async fn exec(
        &self,
        container_id: &str,
        exec_id: &str,
        process: Any,
        stdio: Stdio,
    ) -> Result<()> {
        let request = self.client.unary_request(ExecProcessRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            terminal: stdio.terminal,
            spec: Some(process),
        })?;
        self.client
            .unary("tasks exec", self.grpc().exec(request))
            .await
    }

    /// Resizes the terminal of a process.
    pub async fn resize_pty(
        &self,
        container_id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let request = self.client.unary_request(ResizePtyRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            width,
            height,
        })?;
        self.client
            .unary("tasks resize pty", self.grpc().resize_pty(request))
            .await
    }

    /// Closes the stdin of a process.
    pub async fn close_stdin(&self, container_id: &str, exec_id: &str) -> Result<()> {
        let request = self.client.unary_request(CloseIoRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
            stdin: true,
        })?;
        self.client
            .unary("tasks close io", self.grpc().close_io(request))
            .await
    }

    /// Freezes every process of the task.
    pub async fn pause(&self, container_id: &str) -> Result<()> {
        let request = self.client.unary_request(PauseTaskRequest {
            container_id: container_id.to_string(),
        })?;
        self.client
            .unary("tasks pause", self.grpc().pause(request))
            .await
    }

    /// Thaws a paused task.
    pub async fn resume(&self, container_id: &str) -> Result<()> {
        let request = self.client.unary_request(ResumeTaskRequest {
            container_id: container_id.to_string(),
        })?;
        self.client
            .unary("tasks resume", self.grpc().resume(request))
            .await
    }

    /// The processes of the task.
    pub async fn pids(&self, container_id: &str) -> Result<Vec<ProcessInfo>> {
        let request = self.client.unary_request(ListPidsRequest {
            container_id: container_id.to_string(),
        })?;
        let response = self
            .client
            .unary("tasks list pids", self.grpc().list_pids(request))
            .await?;
        Ok(response
            .processes
            .into_iter()
            .map(|p| ProcessInfo {
                pid: p.pid,
                info: p.info,
            })
            .collect())
    }

    /// Updates the task's resources (an OCI `LinuxResources` as an `Any`).
    pub async fn update(&self, container_id: &str, resources: Any) -> Result<()> {
        let request = self.client.unary_request(UpdateTaskRequest {
            container_id: container_id.to_string(),
            resources: Some(resources),
            annotations: Default::default(),
        })?;
        self.client
            .unary("tasks update", self.grpc().update(request))
            .await
    }

    /// Metrics of the tasks matching any of `filters` (e.g. `id==web`).
    pub async fn metrics(&self, filters: &[String]) -> Result<Vec<Metric>> {
        let request = self.client.unary_request(MetricsRequest {
            filters: filters.to_vec(),
        })?;
        let response = self
            .client
            .unary("tasks metrics", self.grpc().metrics(request))
            .await?;
        Ok(response
            .metrics
            .into_iter()
            .map(|m| Metric {
                timestamp: convert::optional_time(m.timestamp.as_ref()),
                id: m.id,
                data: m.data,
            })
            .collect())
    }

    /// Waits for the init process (`exec_id` empty) or an exec'd one to
    /// exit. Never times out: a process may run for as long as it likes.
    pub async fn wait(&self, container_id: &str, exec_id: &str) -> Result<ExitStatus> {
        let request = self.client.request(WaitRequest {
            container_id: container_id.to_string(),
            exec_id: exec_id.to_string(),
        })?;
        let response = self
            .grpc()
            .wait(request)
            .await
            .map_err(|status| self.client.status_error(status))?
            .into_inner();
        Ok(ExitStatus {
            code: response.exit_status,
            exited_at: convert::optional_time(response.exited_at.as_ref()),
        })
    }
}
