//! What the streaming server runs, over crated's tasks and the pods'
//! network namespaces: exec sessions, and port forwarding to the pod's
//! loopback from inside its network namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use nix::sched::{CloneFlags, setns};
use tokio::io::DuplexStream;

use super::process::{Exec, ExecIo, Sink};
use crate::error::{Error, Result};
use crate::service::CriService;
use crate::streaming::{self, AttachRequest, ExecRequest, ExitStatus, StreamIo};

/// How long a connection to a forwarded port may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The streaming server's view of the plugin.
pub(crate) struct TaskRuntime {
    /// The plugin.
    pub(crate) service: CriService,
}

fn boxed_sink(stream: Option<DuplexStream>) -> Option<Sink> {
    stream.map(|s| Sink::Stream(Box::new(s)))
}

#[async_trait]
impl streaming::Runtime for TaskRuntime {
    async fn exec(&self, req: &ExecRequest, io: StreamIo) -> crated_core::Result<ExitStatus> {
        let run = async {
            let entry = self.service.inner.containers.get(&req.container_id)?;
            let client = self.service.client().await?;
            let exec = Exec::start(
                &client,
                &entry,
                &req.cmd,
                ExecIo {
                    stdin: io.stdin.map(|s| Box::new(s) as _),
                    stdout: boxed_sink(io.stdout),
                    stderr: if req.tty { None } else { boxed_sink(io.stderr) },
                    tty: req.tty,
                },
                &self.service.fifo_root(),
            )
            .await?;
            if let Some(mut sizes) = io.resize {
                let (client, id, exec_id) = (
                    client.clone(),
                    exec.container_id.clone(),
                    exec.exec_id.clone(),
                );
                tokio::spawn(async move {
                    while let Some(size) = sizes.recv().await {
                        let _ = client
                            .tasks()
                            .resize_pty(&id, &exec_id, size.width.into(), size.height.into())
                            .await;
                    }
                });
            }
            let finished = exec.wait(None).await?;
            Ok::<_, Error>(ExitStatus::Code(finished.code))
        };
        run.await.map_err(crated_core::Error::from)
    }

    async fn attach(&self, _req: &AttachRequest, _io: StreamIo) -> crated_core::Result<()> {
        Err(Error::Unimplemented { what: "Attach" }.into())
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
        mut stream: DuplexStream,
    ) -> crated_core::Result<()> {
        let run = async {
            let sandbox = self.service.inner.sandboxes.get(sandbox_id)?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let socket = match sandbox.meta.netns_path.clone() {
                Some(netns) => dial_in_netns(&netns, addr).await?,
                None => tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| {
                        Error::DeadlineExceeded(format!("connecting to {addr} timed out"))
                    })?
                    .map_err(|source| Error::Io {
                        what: "connecting to the forwarded port",
                        path: addr.to_string().into(),
                        source,
                    })?,
            };
            let mut socket = socket;
            let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
            Ok::<_, Error>(())
        };
        run.await.map_err(crated_core::Error::from)
    }
}

/// Connects to `addr` from inside the network namespace pinned at
/// `netns`: the socket is made on a thread that joins the namespace, and
/// keeps it after the thread ends.
async fn dial_in_netns(netns: &Path, addr: SocketAddr) -> Result<tokio::net::TcpStream> {
    let path = netns.to_path_buf();
    let dialled = tokio::task::spawn_blocking(move || -> Result<std::net::TcpStream> {
        // A thread of its own: it never goes back to the host's namespace
        // and ends with this closure.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = std::fs::File::open(&path).map_err(|source| Error::Io {
                        what: "opening the pod's network namespace",
                        path: path.clone(),
                        source,
                    })?;
                    setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| Error::Sys {
                        what: "joining the pod's network namespace",
                        path: path.clone(),
                        source,
                    })?;
                    std::net::TcpStream::connect_timeout(&addr, DIAL_TIMEOUT).map_err(|source| {
                        Error::Io {
                            what: "connecting to the forwarded port in the pod",
                            path: addr.to_string().into(),
                            source,
                        }
                    })
                })
                .join()
                .map_err(|_| Error::FailedPrecondition("the port-forward dialer panicked".into()))?
        })
    })
    .await
    .map_err(|e| {
        Error::FailedPrecondition(format!("the port-forward dialer did not finish: {e}"))
    })??;
    dialled.set_nonblocking(true).map_err(|source| Error::Io {
        what: "making the forwarded connection non-blocking",
        path: addr.to_string().into(),
        source,
    })?;
    tokio::net::TcpStream::from_std(dialled).map_err(|source| Error::Io {
        what: "registering the forwarded connection",
        path: addr.to_string().into(),
        source,
    })
}
