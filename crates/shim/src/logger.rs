//! `binary://` stdio: a logging program that receives the process's stdout
//! and stderr on descriptors 3 and 4 and signals readiness by closing (or
//! writing to) descriptor 5, with `CONTAINER_ID` and `CONTAINER_NAMESPACE`
//! in its environment — containerd's contract for shim loggers.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use crate::error::{Error, Result, io_error};
use crate::io::LOGGER_READY_TIMEOUT;
use crate::reaper::{Exit, Reaper};

/// How long a logging program gets to flush after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(12);

/// A running logging program.
pub struct BinaryLogger {
    pid: u32,
    exit: oneshot::Receiver<Exit>,
}

impl BinaryLogger {
    /// Starts `path args…` and waits until it is ready. Returns it with the
    /// write ends the process's stdout and stderr go to.
    pub async fn spawn(
        path: &str,
        args: &[String],
        namespace: &str,
        id: &str,
        reaper: &Reaper,
    ) -> Result<(BinaryLogger, OwnedFd, OwnedFd)> {
        let pipe = || std::io::pipe().map_err(|e| io_error("creating logger pipe", e));
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (ready_r, ready_w) = pipe()?;
        let mut cmd = Command::new(path);
        cmd.args(args)
            .env("CONTAINER_ID", id)
            .env("CONTAINER_NAMESPACE", namespace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        crate::sys::pass_fds(&mut cmd, vec![out_r.into(), err_r.into(), ready_w.into()])
            .map_err(|e| io_error("passing pipes to the logging binary", e))?;
        let child = cmd
            .spawn()
            .map_err(|e| io_error(format!("starting logging binary {path}"), e))?;
        let logger = BinaryLogger {
            pid: child.id(),
            exit: reaper.subscribe(child.id()),
        };
        // Close the parent's copies: the ready pipe reaches end-of-file when
        // the logger closes or exits.
        drop(cmd);
        let mut ready = pipe::Receiver::from_owned_fd(ready_r.into())
            .map_err(|e| io_error("waiting for the logging binary", e))?;
        let mut byte = [0u8; 1];
        match tokio::time::timeout(LOGGER_READY_TIMEOUT, ready.read(&mut byte)).await {
            Ok(Ok(_)) => Ok((logger, out_w.into(), err_w.into())),
            Ok(Err(e)) => {
                logger.stop_now();
                Err(io_error(format!("reading from logging binary {path}"), e))
            }
            Err(_) => {
                logger.stop_now();
                Err(Error::new(
                    crate::error::ErrorKind::DeadlineExceeded,
                    format!("logging binary {path} did not become ready"),
                ))
            }
        }
    }

    fn stop_now(&self) {
        if let Some(pid) = Pid::from_raw(self.pid as i32) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited after a grace period.
    pub async fn stop(mut self, _reaper: &Reaper) {
        let Some(pid) = Pid::from_raw(self.pid as i32) else {
            return;
        };
        if kill_process(pid, Signal::TERM).is_err() {
            return;
        }
        if tokio::time::timeout(STOP_TIMEOUT, &mut self.exit)
            .await
            .is_err()
        {
            tracing::warn!(
                pid = self.pid,
                "logging binary did not exit after SIGTERM, killing it"
            );
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}
