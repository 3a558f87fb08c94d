//! Running a process in the foreground the way `ctr` does: its IO over
//! FIFOs, the caller's terminal in raw mode with resizes forwarded (`-t`),
//! or the caller's signals forwarded (without `-t`), and its exit status.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use crated_client::Client;
use crated_client::cio::{FifoSet, Io, Streams};
use crated_client::console::{self, RawMode};
use crated_client::tasks::{ExitStatus, Stdio, Tasks};
use tokio::task::JoinHandle;

use crate::cli::TaskIoFlags;

/// How long to wait for the last output of an exited process.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The signals forwarded to a process without a terminal (ctr forwards
/// every catchable one; these are the ones people send).
const FORWARDED: &[i32] = &[
    libc_signal::SIGHUP,
    libc_signal::SIGINT,
    libc_signal::SIGQUIT,
    libc_signal::SIGTERM,
    libc_signal::SIGUSR1,
    libc_signal::SIGUSR2,
    libc_signal::SIGALRM,
];

mod libc_signal {
    use nix::sys::signal::Signal;
    pub const SIGHUP: i32 = Signal::SIGHUP as i32;
    pub const SIGINT: i32 = Signal::SIGINT as i32;
    pub const SIGQUIT: i32 = Signal::SIGQUIT as i32;
    pub const SIGTERM: i32 = Signal::SIGTERM as i32;
    pub const SIGUSR1: i32 = Signal::SIGUSR1 as i32;
    pub const SIGUSR2: i32 = Signal::SIGUSR2 as i32;
    pub const SIGALRM: i32 = Signal::SIGALRM as i32;
}

/// The IO a new process gets.
pub enum ProcessIo {
    /// FIFOs copied to and from the caller.
    Fifos(Io),
    /// Paths or URIs the process writes to by itself (`--log-uri`,
    /// `--null-io`): nothing to copy.
    Direct(Stdio),
}

impl ProcessIo {
    /// The stdio to create the process with.
    pub fn stdio(&self) -> Stdio {
        match self {
            ProcessIo::Fifos(io) => io.fifos().stdio(),
            ProcessIo::Direct(stdio) => stdio.clone(),
        }
    }

    /// Stops copying and removes the FIFOs.
    pub fn close(self) {
        if let ProcessIo::Fifos(io) = self {
            io.close();
        }
    }
}

/// Checks a log URI as containerd's `cio.LogURI` accepts them.
fn check_log_uri(uri: &str) -> Result<()> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        // A plain path is a file, as ctr's cio.LogFile.
        if Path::new(uri).is_absolute() {
            return Ok(());
        }
        bail!(
            "invalid log URI {uri:?}: use binary:///path/to/logger, file:///path/to/file or an absolute path"
        );
    };
    match scheme {
        "binary" | "file" | "fifo" if rest.starts_with('/') => Ok(()),
        _ => bail!("invalid log URI {uri:?}: use binary:///path/to/logger or file:///path/to/file"),
    }
}

/// Sets up IO for process `id` as `ctr` does: `--null-io`, `--log-uri`,
/// else FIFOs in a new directory under `--fifo-dir` copied to this
/// process's stdio. `stdin` says whether to copy the caller's stdin
/// (detached processes get a stdin FIFO nobody writes to yet).
pub fn new_io(
    flags: &TaskIoFlags,
    id: &str,
    terminal: bool,
    copy_stdin: bool,
) -> Result<ProcessIo> {
    if flags.null_io {
        if terminal {
            bail!("tty and null-io cannot be used together");
        }
        return Ok(ProcessIo::Direct(Stdio::default()));
    }
    if let Some(uri) = &flags.log_uri {
        if terminal {
            bail!("tty and log-uri cannot be used together");
        }
        check_log_uri(uri)?;
        let uri = if uri.contains("://") {
            uri.clone()
        } else {
            format!("file://{uri}")
        };
        return Ok(ProcessIo::Direct(Stdio {
            stdin: String::new(),
            stdout: uri.clone(),
            stderr: uri,
            terminal: false,
        }));
    }
    let stdin = if copy_stdin {
        StdinMode::Copy
    } else {
        StdinMode::Open
    };
    Ok(ProcessIo::Fifos(fifo_io(
        &flags.fifo_dir,
        id,
        terminal,
        stdin,
    )?))
}

/// What a new process's stdin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinMode {
    /// A FIFO this process's stdin is copied to.
    Copy,
    /// A FIFO nobody writes to yet (ctr's detached processes, for attach).
    Open,
    /// None: the process reads end-of-file (docker without `-i`).
    Closed,
}

/// FIFOs for process `id` under `dir`, copied to this process's stdio.
pub fn fifo_io(dir: &Path, id: &str, terminal: bool, stdin: StdinMode) -> Result<Io> {
    let fifos =
        FifoSet::create(dir, id, stdin != StdinMode::Closed, terminal).with_context(|| {
            format!(
                "creating IO FIFOs under {} (choose another directory with --fifo-dir)",
                dir.display()
            )
        })?;
    let mut streams = if stdin == StdinMode::Copy {
        Streams::stdio()
    } else {
        Streams::output_only()
    };
    if terminal {
        streams.stderr = None;
    }
    Ok(Io::start(fifos, streams))
}

/// The caller's terminal, in raw mode while an interactive process runs.
pub struct Terminal {
    raw: Option<RawMode>,
    fd: Option<std::os::fd::OwnedFd>,
}

impl Terminal {
    /// Raw mode on stdin when `tty` and stdin is a terminal.
    pub fn new(tty: bool) -> Result<Terminal> {
        if !tty || !std::io::stdin().is_terminal() {
            return Ok(Terminal {
                raw: None,
                fd: None,
            });
        }
        let stdin = std::io::stdin();
        let raw = RawMode::enable(stdin.as_fd()).context("setting the terminal to raw mode")?;
        let fd = stdin.as_fd().try_clone_to_owned().ok();
        Ok(Terminal { raw: Some(raw), fd })
    }

    /// Forwards the terminal's size to the process now and on `SIGWINCH`.
    fn forward_resizes(&self, tasks: &Tasks, id: &str, exec_id: &str) -> Option<JoinHandle<()>> {
        let fd = self.fd.as_ref()?.try_clone().ok()?;
        Some(console::forward_resizes(
            tasks.clone(),
            id.to_string(),
            exec_id.to_string(),
            fd,
        ))
    }

    /// Restores the terminal.
    pub fn restore(&mut self) {
        self.raw.take();
    }
}

/// The caller's signals, caught from before the process starts so none is
/// lost, to be forwarded once it runs.
fn catch_signals() -> Vec<(i32, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    FORWARDED
        .iter()
        .filter_map(|&signo| Some((signo, signal(SignalKind::from_raw(signo)).ok()?)))
        .collect()
}

/// Sends the caught signals on to the process until aborted.
fn forward_signals(
    caught: Vec<(i32, tokio::signal::unix::Signal)>,
    tasks: &Tasks,
    id: &str,
    exec_id: &str,
) -> Vec<JoinHandle<()>> {
    caught
        .into_iter()
        .map(|(signo, mut stream)| {
            let (tasks, id, exec_id) = (tasks.clone(), id.to_string(), exec_id.to_string());
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tracing::debug!(signo, "forwarding signal");
                    let Ok(number) = u32::try_from(signo) else {
                        continue;
                    };
                    if let Err(err) = tasks.kill(&id, &exec_id, number, false).await {
                        tracing::warn!(error = %err, "forwarding signal {signo}");
                    }
                }
            })
        })
        .collect()
}

/// A process that is about to start: waits for its exit from before the
/// start, so an exit cannot be missed.
pub struct Foreground {
    waiter: JoinHandle<crated_client::Result<ExitStatus>>,
    signals: Vec<(i32, tokio::signal::unix::Signal)>,
}

impl Foreground {
    /// Starts waiting for process `exec_id` (empty: the init process) of
    /// task `id`; without a terminal (`tty` false) also catches the
    /// caller's signals from now on, to forward them once it runs.
    pub fn wait_for(client: &Client, id: &str, exec_id: &str, tty: bool) -> Foreground {
        let tasks = client.tasks();
        let (id, exec_id) = (id.to_string(), exec_id.to_string());
        Foreground {
            waiter: tokio::spawn(async move { tasks.wait(&id, &exec_id).await }),
            signals: if tty { Vec::new() } else { catch_signals() },
        }
    }

    /// After the process started: forwards resizes or signals and stdin's
    /// end, waits for the exit and for the output to drain. Returns the
    /// exit status.
    pub async fn finish(
        self,
        client: &Client,
        id: &str,
        exec_id: &str,
        io: &mut ProcessIo,
        terminal: &Terminal,
        tty: bool,
    ) -> Result<ExitStatus> {
        let tasks = client.tasks();
        let mut helpers: Vec<JoinHandle<()>> = Vec::new();
        if tty {
            helpers.extend(terminal.forward_resizes(&tasks, id, exec_id));
        } else {
            helpers.extend(forward_signals(self.signals, &tasks, id, exec_id));
        }
        if let ProcessIo::Fifos(io) = io
            && let Some(eof) = io.stdin_eof()
        {
            let (tasks, id, exec_id) = (tasks.clone(), id.to_string(), exec_id.to_string());
            helpers.push(tokio::spawn(async move {
                if eof.await.is_ok()
                    && let Err(err) = tasks.close_stdin(&id, &exec_id).await
                {
                    tracing::debug!(error = %err, "closing stdin");
                }
            }));
        }
        let status = self.waiter.await;
        for helper in &helpers {
            helper.abort();
        }
        let status = status.context("waiting for the process")??;
        if let ProcessIo::Fifos(io) = io {
            let drained = tokio::task::block_in_place(|| io.wait(DRAIN_TIMEOUT));
            if !drained {
                tracing::warn!("the process's output did not end within {DRAIN_TIMEOUT:?}");
            }
        }
        Ok(status)
    }
}

/// Whether `container`'s spec asks for a terminal.
pub fn has_terminal(container: &crated_client::containers::Container) -> bool {
    container
        .spec()
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

/// Writes `pid` to `path` atomically, as ctr's `--pid-file`.
pub fn write_pid_file(path: &Path, pid: u32) -> Result<()> {
    let path =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp: PathBuf = path.with_file_name(format!(".{name}"));
    std::fs::write(&temp, pid.to_string())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_uris() {
        assert!(check_log_uri("binary:///usr/bin/logger").is_ok());
        assert!(check_log_uri("file:///var/log/c.log").is_ok());
        assert!(check_log_uri("/var/log/c.log").is_ok());
        assert!(check_log_uri("relative.log").is_err());
        assert!(check_log_uri("http://example.invalid/x").is_err());
    }

    #[test]
    fn pid_files_are_written_whole() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let path = dir.path().join("pid");
        assert!(write_pid_file(&path, 4242).is_ok());
        assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("4242"));
        assert!(!dir.path().join(".pid").exists());
    }
}
