//! What the streaming server runs, over crated's tasks and the pods'
//! network namespaces: exec sessions, and port forwarding to the pod's
//! loopback from inside its network namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use crated_api::cri;
use nix::sched::{CloneFlags, setns};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::process::{Exec, ExecIo, Sink};
use crate::container::record::config_from_json;
use crate::error::{Error, Result};
use crate::log::Stream;
use crate::service::CriService;
use crate::streaming::{self, AttachRequest, ExecRequest, ExitStatus, StreamIo};

/// How long a connection to a forwarded port may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an attach session waits for the last output after the exit.
const ATTACH_DRAIN: Duration = Duration::from_millis(500);

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
            if let Some(sizes) = io.resize {
                forward_resizes(&client, &exec.container_id, &exec.exec_id, sizes);
            }
            let finished = exec.wait(None).await?;
            Ok::<_, Error>(ExitStatus::Code(finished.code))
        };
        run.await.map_err(crated_core::Error::from)
    }

    async fn attach(&self, req: &AttachRequest, io: StreamIo) -> crated_core::Result<()> {
        self.attach_container(req, io)
            .await
            .map_err(crated_core::Error::from)
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

impl TaskRuntime {
    /// Connects `io` to the container's own process: its output as the log
    /// copier reads it, the client's stdin into its stdin FIFO (closing the
    /// process's stdin at the end when it was created `stdin_once`), and
    /// terminal resizes; until it exits or the client goes.
    async fn attach_container(&self, req: &AttachRequest, io: StreamIo) -> Result<()> {
        let entry = self.service.inner.containers.get(&req.container_id)?;
        let id = entry.meta.id.clone();
        if entry.status().state() != cri::ContainerState::ContainerRunning {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running: attach only to a running container"
            )));
        }
        let client = self.service.client().await?;
        let log = entry.log.lock().ok().and_then(|l| l.clone());
        let mut output = log.as_ref().map(|l| l.subscribe());
        let config = config_from_json(&entry.meta.config);
        if let (Some(mut stdin), Some(path)) = (
            io.stdin,
            entry.stdin_fifo.lock().ok().and_then(|p| p.clone()),
        ) {
            let (client, id, once) = (client.clone(), id.clone(), config.stdin_once);
            tokio::spawn(async move {
                let opened = tokio::fs::OpenOptions::new().write(true).open(&path).await;
                if let Ok(mut fifo) = opened {
                    let _ = tokio::io::copy(&mut stdin, &mut fifo).await;
                }
                if once && let Err(e) = client.tasks().close_stdin(&id, "").await {
                    tracing::debug!(id, error = %e, "closing a container's stdin after attach");
                }
            });
        }
        if let Some(sizes) = io.resize {
            forward_resizes(&client, &id, "", sizes);
        }
        let (mut stdout, mut stderr) = (io.stdout, io.stderr);
        let mut exited = entry.exited.subscribe();
        let mut gone = false;
        loop {
            let chunk = match output.as_mut() {
                // After the exit, what the copier still reads is sent too.
                Some(rx) if gone => match tokio::time::timeout(ATTACH_DRAIN, rx.recv()).await {
                    Ok(chunk) => chunk,
                    Err(_) => break,
                },
                Some(rx) => tokio::select! {
                    chunk = rx.recv() => chunk,
                    _ = exited.wait_for(|e| *e) => {
                        gone = true;
                        continue;
                    }
                },
                None => {
                    let _ = exited.wait_for(|e| *e).await;
                    break;
                }
            };
            let (stream, data) = match chunk {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(
                        id,
                        missed = n,
                        "an attached client fell behind: output dropped"
                    );
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let target = match stream {
                Stream::Stderr if !req.tty => stderr.as_mut(),
                _ => stdout.as_mut(),
            };
            if let Some(w) = target
                && w.write_all(&data).await.is_err()
            {
                break;
            }
        }
        Ok(())
    }
}

/// Resizes the terminal of process `exec_id` (empty: init) of container
/// `id` to each size the client sends, until it stops sending.
fn forward_resizes(
    client: &crated_client::Client,
    id: &str,
    exec_id: &str,
    mut sizes: tokio::sync::mpsc::Receiver<streaming::TerminalSize>,
) {
    let (client, id, exec_id) = (client.clone(), id.to_string(), exec_id.to_string());
    tokio::spawn(async move {
        while let Some(size) = sizes.recv().await {
            if let Err(e) = client
                .tasks()
                .resize_pty(&id, &exec_id, size.width.into(), size.height.into())
                .await
            {
                tracing::debug!(id, exec = exec_id, error = %e, "resizing a terminal");
            }
        }
    });
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
