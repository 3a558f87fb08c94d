//! One process run in a running container, as ExecSync and the streaming
//! server's exec need it: the container's own process settings (env,
//! user, cwd, capabilities) with the command replaced, FIFOs for its
//! stdio, and the exit once the task reports it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_api::cri::ContainerState;
use crated_client::Client;
use crated_client::cio::FifoSet;
use crated_client::tasks::ExitStatus;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::container::store::Entry;
use crate::error::{Error, Result};

/// How long output may keep flowing after the process exited (a child it
/// left behind can hold the FIFOs open).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// Where a process's output goes.
pub(crate) enum Sink {
    /// Kept in memory, up to `cap` bytes (the rest is dropped).
    Buffer {
        /// The bytes kept.
        data: Vec<u8>,
        /// The most kept.
        cap: usize,
    },
    /// Copied to a stream (the streaming client).
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
}

/// A process started in a container.
pub(crate) struct Exec {
    client: Client,
    /// The container.
    pub(crate) container_id: String,
    /// The exec id.
    pub(crate) exec_id: String,
    fifos: FifoSet,
    waiter: JoinHandle<std::result::Result<ExitStatus, crated_client::Error>>,
    outputs: Vec<JoinHandle<Sink>>,
}

/// What a finished exec produced.
pub(crate) struct Finished {
    /// The exit code.
    pub(crate) code: i32,
    /// The sinks given for stdout and stderr, in that order (`None` where
    /// none was given).
    pub(crate) outputs: Vec<Sink>,
}

/// The stdio a new exec is started with.
pub(crate) struct ExecIo {
    /// Copied into the process's stdin; EOF closes it.
    pub(crate) stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Receives stdout (with a terminal, all output).
    pub(crate) stdout: Option<Sink>,
    /// Receives stderr (never with a terminal).
    pub(crate) stderr: Option<Sink>,
    /// Whether the process gets a terminal.
    pub(crate) tty: bool,
}

/// The process settings of container `id`'s spec with `cmd` as the
/// command: its env, user, cwd, capabilities; `TERM=xterm` with a
/// terminal, as containerd adds.
async fn exec_process(
    client: &Client,
    id: &str,
    cmd: &[String],
    tty: bool,
) -> Result<prost_types::Any> {
    let record = client
        .containers()
        .get(id)
        .await
        .map_err(Error::client(format!("reading container {id}")))?;
    let mut process = record
        .spec_json()
        .map(|s| s["process"].clone())
        .filter(Value::is_object)
        .ok_or_else(|| {
            Error::FailedPrecondition(format!("container {id} has no process in its spec"))
        })?;
    process["args"] = json!(cmd);
    process["terminal"] = json!(tty);
    if tty {
        let mut env: Vec<Value> = process["env"].as_array().cloned().unwrap_or_default();
        env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with("TERM=")));
        env.push(json!("TERM=xterm"));
        process["env"] = Value::Array(env);
    }
    let process: oci_spec::runtime::Process = serde_json::from_value(process).map_err(|e| {
        Error::InvalidArgument(format!("the process of container {id} is not valid: {e}"))
    })?;
    crated_client::spec::process_to_any(&process).map_err(Error::client(format!(
        "encoding an exec process of container {id}"
    )))
}

/// Opens FIFO `path` for reading (on a blocking thread: it waits for the
/// shim) and copies it into `sink`.
fn drain(path: PathBuf, mut sink: Sink) -> JoinHandle<Sink> {
    tokio::spawn(async move {
        let Ok(mut fifo) = tokio::fs::File::open(&path).await else {
            return sink;
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match fifo.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match &mut sink {
                Sink::Buffer { data, cap } => {
                    let room = cap.saturating_sub(data.len());
                    data.extend_from_slice(&buf[..n.min(room)]);
                }
                Sink::Stream(w) => {
                    if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        if let Sink::Stream(w) = &mut sink {
            let _ = w.shutdown().await;
        }
        sink
    })
}

/// Unblocks FIFO opens still waiting for the other side.
fn cancel_fifos(fifos: &FifoSet) {
    use std::os::unix::fs::OpenOptionsExt;
    for path in [&fifos.stdout, &fifos.stderr].into_iter().flatten() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path);
    }
    if let Some(path) = &fifos.stdin {
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path);
    }
}

impl Exec {
    /// Starts `cmd` in the running container `entry` with `io`.
    pub(crate) async fn start(
        client: &Client,
        entry: &Entry,
        cmd: &[String],
        io: ExecIo,
        fifo_root: &Path,
    ) -> Result<Exec> {
        let id = entry.meta.id.clone();
        if entry.status().state() != ContainerState::ContainerRunning {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running: exec only in a running container"
            )));
        }
        if cmd.is_empty() {
            return Err(Error::InvalidArgument(
                "exec needs a command: set cmd".into(),
            ));
        }
        let process = exec_process(client, &id, cmd, io.tty).await?;
        let exec_id = crated_core::identifiers::generate_id();
        let fifos = FifoSet::create(fifo_root, &exec_id, io.stdin.is_some(), io.tty).map_err(
            Error::client(format!("creating the FIFOs of an exec in {id}")),
        )?;
        // A stream nobody reads is not given to the shim: its open of the
        // FIFO would wait for a reader for ever.
        let mut stdio = fifos.stdio();
        if io.stdout.is_none() {
            stdio.stdout.clear();
        }
        if io.stderr.is_none() {
            stdio.stderr.clear();
        }
        if let Err(e) = client.tasks().exec(&id, &exec_id, process, stdio).await {
            fifos.remove();
            return Err(Error::client(format!(
                "creating an exec process in container {id}"
            ))(e));
        }
        let mut outputs = Vec::new();
        for (path, sink) in [
            (fifos.stdout.clone(), io.stdout),
            (fifos.stderr.clone(), io.stderr),
        ] {
            if let (Some(path), Some(sink)) = (path, sink) {
                outputs.push(drain(path, sink));
            }
        }
        let waiter = {
            let (client, id, exec_id) = (client.clone(), id.clone(), exec_id.clone());
            tokio::spawn(async move { client.tasks().wait(&id, &exec_id).await })
        };
        if let Err(e) = client.tasks().start(&id, &exec_id).await {
            waiter.abort();
            cancel_fifos(&fifos);
            let _ = client.tasks().delete_process(&id, &exec_id).await;
            fifos.remove();
            return Err(Error::client(format!(
                "starting an exec process in container {id}"
            ))(e));
        }
        // Fed only once started: a CloseIO the shim gets while the exec is
        // still starting would be lost.
        if let (Some(path), Some(reader)) = (fifos.stdin.clone(), io.stdin) {
            feed_stdin(client.clone(), id.clone(), exec_id.clone(), path, reader);
        }
        Ok(Exec {
            client: client.clone(),
            container_id: id,
            exec_id,
            fifos,
            waiter,
            outputs,
        })
    }

    /// Waits for the exit (up to `timeout`, when given: then the process is
    /// killed and DeadlineExceeded returned), collects the output and
    /// deletes the process.
    pub(crate) async fn wait(mut self, timeout: Option<Duration>) -> Result<Finished> {
        let waited = match timeout {
            Some(limit) => tokio::time::timeout(limit, &mut self.waiter).await.ok(),
            None => Some((&mut self.waiter).await),
        };
        let Some(joined) = waited else {
            let _ = self
                .client
                .tasks()
                .kill(&self.container_id, &self.exec_id, 9, false)
                .await;
            let _ = tokio::time::timeout(OUTPUT_DRAIN, &mut self.waiter).await;
            self.cleanup().await;
            return Err(Error::DeadlineExceeded(format!(
                "exec in container {} did not finish within {} s: it was killed",
                self.container_id,
                timeout.map_or(0, |t| t.as_secs())
            )));
        };
        let status = joined
            .map_err(|e| Error::FailedPrecondition(format!("waiting for an exec: {e}")))?
            .map_err(Error::client(format!(
                "waiting for an exec in container {}",
                self.container_id
            )))?;
        let mut outputs = Vec::new();
        for handle in std::mem::take(&mut self.outputs) {
            match tokio::time::timeout(OUTPUT_DRAIN, handle).await {
                Ok(Ok(sink)) => outputs.push(sink),
                _ => {
                    tracing::debug!(id = %self.container_id, "exec output still open after the exit: cut")
                }
            }
        }
        self.cleanup().await;
        Ok(Finished {
            code: i32::try_from(status.code).unwrap_or(i32::MAX),
            outputs,
        })
    }

    async fn cleanup(&self) {
        cancel_fifos(&self.fifos);
        if let Err(e) = self
            .client
            .tasks()
            .delete_process(&self.container_id, &self.exec_id)
            .await
            && !e.is_not_found()
        {
            tracing::warn!(id = %self.container_id, exec = %self.exec_id, error = %e, "deleting an exec process");
        }
        self.fifos.remove();
    }
}

/// Copies `reader` into the stdin FIFO; at its end closes the FIFO and
/// the process's stdin.
fn feed_stdin(
    client: Client,
    id: String,
    exec_id: String,
    path: PathBuf,
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
) {
    tokio::spawn(async move {
        let opened = tokio::fs::OpenOptions::new().write(true).open(&path).await;
        let mut fifo = match opened {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(id, exec = exec_id, error = %e, "opening an exec's stdin FIFO");
                return;
            }
        };
        if let Err(e) = tokio::io::copy(&mut reader, &mut fifo).await {
            tracing::debug!(id, exec = exec_id, error = %e, "copying an exec's stdin");
        }
        drop(fifo);
        if let Err(e) = client.tasks().close_stdin(&id, &exec_id).await
            && !e.is_not_found()
        {
            tracing::warn!(id, exec = exec_id, error = %e, "closing an exec's stdin");
        }
    });
}
