//! A connected shim: the task service over ttrpc, under the v2 or v3
//! service name the shim serves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crated_api::ttrpc::api;
use crated_api::ttrpc::protobuf::Message;
use crated_api::ttrpc::ttrpc::{self, asynchronous::Client, proto::KeyValue};
use crated_core::{Error, ErrorKind, Result};

use crate::bootstrap::{Bootstrap, TaskApi};
use crate::bundle::Bundle;

/// How long an ordinary task call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running shim for one task.
pub struct Shim {
    client: Client,
    api: TaskApi,
    /// The task's bundle.
    pub bundle: Bundle,
    /// The shim binary, for `delete` after it dies.
    pub binary: PathBuf,
    /// The address it serves on.
    pub address: String,
    _log: Option<crate::shim_log::ShimLog>,
    /// Set once the daemon itself is taking the shim down (Delete), so its
    /// closing connection is not taken for a death.
    closing: AtomicBool,
}

/// Maps a ttrpc failure to an error with containerd's kind.
fn from_ttrpc(e: ttrpc::Error, what: &str) -> Error {
    match e {
        ttrpc::Error::RpcStatus(status) => Error::from_ttrpc_status(&status),
        other => Error::with_source(
            ErrorKind::Unavailable,
            format_args!("{what}: shim connection"),
            other,
        ),
    }
}

impl Shim {
    /// Connects to the shim that `bootstrap` describes, within `timeout`.
    pub async fn connect(
        bootstrap: &Bootstrap,
        bundle: Bundle,
        binary: PathBuf,
        timeout: Duration,
    ) -> Result<Shim> {
        let client = tokio::time::timeout(timeout, Client::connect(&bootstrap.address))
            .await
            .map_err(|_| {
                Error::unavailable(format!(
                    "connecting to shim at {}: timed out",
                    bootstrap.address
                ))
            })?
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Unavailable,
                    format_args!("connecting to shim at {}", bootstrap.address),
                    e,
                )
            })?;
        Ok(Shim {
            client,
            api: bootstrap.api,
            bundle,
            binary,
            address: bootstrap.address.clone(),
            _log: None,
            closing: AtomicBool::new(false),
        })
    }

    /// Keeps the shim's log FIFO reader alive as long as the shim.
    pub fn with_log(mut self, log: Option<crate::shim_log::ShimLog>) -> Self {
        self._log = log;
        self
    }

    /// Marks the shim as being taken down by the daemon.
    pub(crate) fn mark_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Whether the daemon is taking the shim down.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The task API the shim serves.
    pub fn api(&self) -> TaskApi {
        self.api
    }

    async fn call<Req: Message, Resp: Message>(
        &self,
        method: &str,
        req: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp> {
        let payload = req.write_to_bytes().map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format_args!("encoding {method} request"),
                e,
            )
        })?;
        let mut request = ttrpc::Request::new();
        request.service = self.api.service().to_string();
        request.method = method.to_string();
        request.payload = payload;
        request.timeout_nano = timeout.map(|t| t.as_nanos() as i64).unwrap_or(0);
        let mut ns = KeyValue::new();
        ns.key = crated_api::NAMESPACE_HEADER_TTRPC.to_string();
        ns.value = self.bundle.namespace.clone();
        request.metadata = vec![ns];
        let what = format!("{method} on task {}", self.bundle.id);
        let call = self.client.request(request);
        let response = match timeout {
            Some(t) => tokio::time::timeout(t + Duration::from_secs(1), call)
                .await
                .map_err(|_| {
                    Error::new(
                        ErrorKind::DeadlineExceeded,
                        format!("{what}: no answer within {t:?}"),
                    )
                })?,
            None => call.await,
        }
        .map_err(|e| from_ttrpc(e, &what))?;
        Resp::parse_from_bytes(&response.payload).map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format_args!("decoding {what} response"),
                e,
            )
        })
    }

    /// Creates the task.
    pub async fn create(&self, req: &api::CreateTaskRequest) -> Result<api::CreateTaskResponse> {
        self.call("Create", req, Some(CALL_TIMEOUT)).await
    }
    /// Starts the task or an exec.
    pub async fn start(&self, req: &api::StartRequest) -> Result<api::StartResponse> {
        self.call("Start", req, Some(CALL_TIMEOUT)).await
    }
    /// Deletes the task or an exec.
    pub async fn delete(&self, req: &api::DeleteRequest) -> Result<api::DeleteResponse> {
        self.call("Delete", req, Some(CALL_TIMEOUT)).await
    }
    /// The state of the task or an exec.
    pub async fn state(&self, req: &api::StateRequest) -> Result<api::StateResponse> {
        self.call("State", req, Some(CALL_TIMEOUT)).await
    }
    /// The processes of the task.
    pub async fn pids(&self, req: &api::PidsRequest) -> Result<api::PidsResponse> {
        self.call("Pids", req, Some(CALL_TIMEOUT)).await
    }
    /// Pauses the task.
    pub async fn pause(&self, req: &api::PauseRequest) -> Result<api::Empty> {
        self.call("Pause", req, Some(CALL_TIMEOUT)).await
    }
    /// Resumes the task.
    pub async fn resume(&self, req: &api::ResumeRequest) -> Result<api::Empty> {
        self.call("Resume", req, Some(CALL_TIMEOUT)).await
    }
    /// Checkpoints the task.
    pub async fn checkpoint(&self, req: &api::CheckpointTaskRequest) -> Result<api::Empty> {
        self.call("Checkpoint", req, None).await
    }
    /// Signals the task or an exec.
    pub async fn kill(&self, req: &api::KillRequest) -> Result<api::Empty> {
        self.call("Kill", req, Some(CALL_TIMEOUT)).await
    }
    /// Adds an exec process.
    pub async fn exec(&self, req: &api::ExecProcessRequest) -> Result<api::Empty> {
        self.call("Exec", req, Some(CALL_TIMEOUT)).await
    }
    /// Resizes a terminal.
    pub async fn resize_pty(&self, req: &api::ResizePtyRequest) -> Result<api::Empty> {
        self.call("ResizePty", req, Some(CALL_TIMEOUT)).await
    }
    /// Closes a process's stdin.
    pub async fn close_io(&self, req: &api::CloseIORequest) -> Result<api::Empty> {
        self.call("CloseIO", req, Some(CALL_TIMEOUT)).await
    }
    /// Updates the task's resources.
    pub async fn update(&self, req: &api::UpdateTaskRequest) -> Result<api::Empty> {
        self.call("Update", req, Some(CALL_TIMEOUT)).await
    }
    /// Waits for the task or an exec to exit (no timeout).
    pub async fn wait(&self, req: &api::WaitRequest) -> Result<api::WaitResponse> {
        self.call("Wait", req, None).await
    }
    /// Resource statistics of the task.
    pub async fn stats(&self, req: &api::StatsRequest) -> Result<api::StatsResponse> {
        self.call("Stats", req, Some(CALL_TIMEOUT)).await
    }
    /// Shim and task pids.
    pub async fn connect_info(&self, req: &api::ConnectRequest) -> Result<api::ConnectResponse> {
        self.call("Connect", req, Some(CALL_TIMEOUT)).await
    }
    /// Asks the shim to exit, waiting at most `timeout`.
    pub async fn shutdown(
        &self,
        req: &api::ShutdownRequest,
        timeout: Duration,
    ) -> Result<api::Empty> {
        self.call("Shutdown", req, Some(timeout)).await
    }
}
