//! Running commands in containers: ExecSync, and the streaming URLs of
//! Exec, Attach and PortForward (the session itself runs in the streaming server,
//! over [`runtime::TaskRuntime`]).

mod process;
pub(crate) mod runtime;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crated_api::cri;

use crate::service::CriService;
use crate::streaming::{self, StreamServer};
use crate::{Error, Result};
use process::{Exec, ExecIo, Sink};

/// The most of each output stream ExecSync returns (more is dropped).
const EXEC_SYNC_OUTPUT_CAP: usize = 16 * 1024 * 1024;

fn buffer() -> Option<Sink> {
    Some(Sink::Buffer {
        data: Vec::new(),
        cap: EXEC_SYNC_OUTPUT_CAP,
    })
}

impl CriService {
    /// `ExecSync`: runs `cmd` to its end (or `timeout` seconds: then it is
    /// killed and the answer is DeadlineExceeded) and returns its output.
    pub(crate) async fn exec_sync(
        &self,
        req: cri::ExecSyncRequest,
    ) -> Result<cri::ExecSyncResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let client = self.client().await?;
        let io = ExecIo {
            stdin: None,
            stdout: buffer(),
            stderr: buffer(),
            tty: false,
        };
        let exec = Exec::start(&client, &entry, &req.cmd, io, &self.fifo_root()).await?;
        let timeout = u64::try_from(req.timeout)
            .ok()
            .filter(|t| *t > 0)
            .map(Duration::from_secs);
        let finished = exec.wait(timeout).await?;
        let mut outputs = finished.outputs.into_iter().map(|s| match s {
            Sink::Buffer { data, .. } => data,
            Sink::Stream(_) => Vec::new(),
        });
        Ok(cri::ExecSyncResponse {
            stdout: outputs.next().unwrap_or_default(),
            stderr: outputs.next().unwrap_or_default(),
            exit_code: finished.code,
        })
    }

    /// `Exec`: a one-time URL on the streaming server.
    pub(crate) async fn exec(&self, req: cri::ExecRequest) -> Result<cri::ExecResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        if entry.status().state() != cri::ContainerState::ContainerRunning {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running: exec only in a running container",
                entry.meta.id
            )));
        }
        if req.cmd.is_empty() {
            return Err(Error::InvalidArgument(
                "Exec needs a command: set cmd".into(),
            ));
        }
        let url = self
            .stream_server()
            .await?
            .exec_url(streaming::ExecRequest {
                container_id: entry.meta.id.clone(),
                cmd: req.cmd,
                tty: req.tty,
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
            })?;
        Ok(cri::ExecResponse { url })
    }

    /// `Attach`: a one-time URL on the streaming server.
    pub(crate) async fn attach(&self, req: cri::AttachRequest) -> Result<cri::AttachResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        if entry.status().state() != cri::ContainerState::ContainerRunning {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running: attach only to a running container",
                entry.meta.id
            )));
        }
        let url = self
            .stream_server()
            .await?
            .attach_url(streaming::AttachRequest {
                container_id: entry.meta.id.clone(),
                tty: req.tty,
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
            })?;
        Ok(cri::AttachResponse { url })
    }

    /// `PortForward`: a one-time URL on the streaming server.
    pub(crate) async fn port_forward(
        &self,
        req: cri::PortForwardRequest,
    ) -> Result<cri::PortForwardResponse> {
        let sandbox = self.inner.sandboxes.get(&req.pod_sandbox_id)?;
        let ports = req
            .port
            .iter()
            .map(|p| {
                u16::try_from(*p).map_err(|_| {
                    Error::InvalidArgument(format!("port {p} is not a TCP port: use 1-65535"))
                })
            })
            .collect::<Result<Vec<u16>>>()?;
        let url = self
            .stream_server()
            .await?
            .port_forward_url(streaming::PortForwardRequest {
                sandbox_id: sandbox.meta.id.clone(),
                ports,
            })?;
        Ok(cri::PortForwardResponse { url })
    }

    /// The streaming server, bound on first use to
    /// `stream_server_address:stream_server_port`.
    async fn stream_server(&self) -> Result<&StreamServer> {
        self.inner
            .stream_server
            .get_or_try_init(|| async {
                let config = self.config();
                let text = format!("{}:{}", config.stream_server_address, config.stream_server_port);
                let addr: SocketAddr = text.parse().map_err(|e| {
                    Error::InvalidArgument(format!(
                        "stream_server_address:stream_server_port {text:?} is not an address ({e}): fix the CRI config"
                    ))
                })?;
                let runtime = Arc::new(runtime::TaskRuntime {
                    service: self.clone(),
                });
                let server = StreamServer::bind(addr, runtime).await.map_err(|e| {
                    Error::FailedPrecondition(format!("starting the streaming server on {addr}: {e}"))
                })?;
                tracing::info!(address = %server.local_addr(), "CRI streaming server listening");
                Ok(server)
            })
            .await
    }
}
