//! Reaping: the shim is a child subreaper, so every process of its
//! containers ends up its child. On SIGCHLD it collects every exited child
//! with `waitpid(-1)`; an exit someone subscribed to (an OCI runtime command
//! the shim ran) goes to that subscriber, every other exit (container
//! processes, orphans) to the task service.
//!
//! The runtime is single-threaded, so subscribing right after `spawn`, with
//! no `.await` between, cannot miss the exit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustix::process::{WaitOptions, wait};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

/// One child's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The process id.
    pub pid: u32,
    /// The exit code, or 128 + the signal that killed it.
    pub status: u32,
    /// When the shim collected it.
    pub at: SystemTime,
}

/// Collects exits and hands them out.
pub struct Reaper {
    waiters: Mutex<HashMap<u32, oneshot::Sender<Exit>>>,
    others: mpsc::UnboundedSender<Exit>,
}

impl Reaper {
    /// A reaper and the stream of exits no one subscribed to. Call
    /// [`Reaper::start`] inside the runtime before spawning anything.
    pub fn new() -> (Arc<Reaper>, mpsc::UnboundedReceiver<Exit>) {
        let (others, rx) = mpsc::unbounded_channel();
        let reaper = Reaper {
            waiters: Mutex::new(HashMap::new()),
            others,
        };
        (Arc::new(reaper), rx)
    }

    /// Installs the SIGCHLD handler and spawns the reaping loop.
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        let mut sigchld = signal(SignalKind::child())?;
        let me = self.clone();
        tokio::spawn(async move {
            me.reap();
            while sigchld.recv().await.is_some() {
                me.reap();
            }
        });
        Ok(())
    }

    /// The exit of `pid`, a child just spawned. Call before any `.await`.
    pub fn subscribe(&self, pid: u32) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(pid, tx);
        }
        rx
    }

    /// Collects every child that has exited.
    pub fn reap(&self) {
        while let Ok(Some((pid, status))) = wait(WaitOptions::NOHANG) {
            let status = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => code as u32,
                (None, Some(sig)) => 128 + sig as u32,
                _ => continue,
            };
            let exit = Exit {
                pid: pid.as_raw_nonzero().get() as u32,
                status,
                at: SystemTime::now(),
            };
            let waiter = self
                .waiters
                .lock()
                .ok()
                .and_then(|mut w| w.remove(&exit.pid));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(exit);
                }
                None => {
                    let _ = self.others.send(exit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    #[allow(clippy::zombie_processes)] // the reaper under test collects them
    fn subscribers_get_their_exit_and_the_rest_goes_to_the_stream() {
        let _serial = crate::CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (reaper, mut others) = Reaper::new();
            reaper.start().unwrap();
            let watched = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
            let rx = reaper.subscribe(watched.id());
            let other = Command::new("sh")
                .args(["-c", "kill -TERM $$"])
                .spawn()
                .unwrap();
            let exit = rx.await.unwrap();
            assert_eq!(exit.pid, watched.id());
            assert_eq!(exit.status, 7);
            let exit = others.recv().await.unwrap();
            assert_eq!(exit.pid, other.id());
            assert_eq!(exit.status, 128 + 15);
        });
    }
}
