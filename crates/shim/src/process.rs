//! What the shim knows about its containers and their processes: the init
//! process and exec'd processes with their state, stdio and exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use crated_api::ttrpc::api::Status as WireStatus;
use tokio::sync::watch;

use crate::cgroup::Cgroup;
use crate::console::Console;
use crate::error::{Error, Result};
use crate::io::{ProcessIo, Stdio};
use crate::options::RuncOptions;
use crate::reaper::Exit;
use crate::runtime::Runtime;

/// The state of a process, containerd's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created by the runtime, not started.
    Created,
    /// Running.
    Running,
    /// Being frozen.
    Pausing,
    /// Frozen.
    Paused,
    /// Exited, not deleted.
    Stopped,
    /// Deleted.
    Deleted,
}

impl Status {
    /// The wire status.
    pub fn wire(self) -> WireStatus {
        match self {
            Status::Created => WireStatus::CREATED,
            Status::Running => WireStatus::RUNNING,
            Status::Pausing => WireStatus::PAUSING,
            Status::Paused => WireStatus::PAUSED,
            Status::Stopped => WireStatus::STOPPED,
            Status::Deleted => WireStatus::UNKNOWN,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, or 128 + signal.
    pub status: u32,
    /// When it was collected.
    pub at: SystemTime,
}

/// One process: a container's init or an exec'd process.
pub struct Process {
    /// The exec id; empty for the init process.
    pub exec_id: String,
    /// The pid, 0 until created (exec: until started).
    pub pid: u32,
    /// The state.
    pub status: Status,
    /// Set once it exited.
    pub exit: Option<ExitInfo>,
    /// Its stdio as requested.
    pub stdio: Stdio,
    /// What the shim keeps of its stdio.
    pub io: ProcessIo,
    /// Its terminal, if it has one.
    pub console: Option<Console>,
    /// Signals the exit to `Wait` callers.
    pub exited: watch::Sender<Option<ExitInfo>>,
    /// A `Start` is in flight; its exit event waits for the start event.
    pub starting: bool,
    /// An exit that arrived while starting, to publish after the start event.
    pub held_exit: bool,
    /// Exec only: the OCI process spec (JSON).
    pub spec: Vec<u8>,
}

impl Process {
    /// A new process in the `Created` state.
    pub fn new(exec_id: &str, stdio: Stdio) -> Self {
        Process {
            exec_id: exec_id.to_string(),
            pid: 0,
            status: Status::Created,
            exit: None,
            stdio,
            io: ProcessIo::default(),
            console: None,
            exited: watch::channel(None).0,
            starting: false,
            held_exit: false,
            spec: Vec::new(),
        }
    }

    /// Records the exit and wakes the waiters.
    pub fn set_exited(&mut self, status: u32, at: SystemTime) {
        let info = ExitInfo { status, at };
        self.exit = Some(info);
        if self.status != Status::Deleted {
            self.status = Status::Stopped;
        }
        if let Some(c) = &self.console {
            c.process_exited();
        }
        self.exited.send_replace(Some(info));
    }

    /// The exit status, 0 while running.
    pub fn exit_status(&self) -> u32 {
        self.exit.map(|e| e.status).unwrap_or(0)
    }
}

/// A container: its init process, exec'd processes and resources.
pub struct Container {
    /// The container id.
    pub id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// `<bundle>/rootfs` when the shim mounted it.
    pub rootfs: Option<PathBuf>,
    /// The OCI runtime.
    pub runtime: Runtime,
    /// The runtime options it was created with.
    pub options: RuncOptions,
    /// The init process.
    pub init: Process,
    /// Exec'd processes by exec id.
    pub execs: HashMap<String, Process>,
    /// Its cgroup, once known.
    pub cgroup: Option<Cgroup>,
    /// Whether the init's exit must kill the rest (no own pid namespace).
    pub kill_all_on_exit: bool,
    /// A checkpoint image to restore from at `Start`.
    pub checkpoint: Option<String>,
    /// The init's exit has been collected; no exec may start any more.
    pub init_exiting: bool,
    /// Execs whose start was accepted and that have not exited: the init's
    /// exit is reported after theirs.
    pub running_execs: usize,
    /// The init's exit, held until `running_execs` drops to zero.
    pub held_init_exit: Option<Exit>,
}

impl Container {
    /// The process `exec_id` names (`""`: the init).
    pub fn process(&self, exec_id: &str) -> Result<&Process> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs
            .get(exec_id)
            .ok_or_else(|| Error::not_found(format!("process does not exist {exec_id}")))
    }

    /// The process `exec_id` names, mutably.
    pub fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| Error::not_found(format!("process does not exist {exec_id}")))
    }

    /// The state of `p`, which for exec'd processes follows a paused
    /// container.
    pub fn status_of(&self, p: &Process) -> Status {
        match self.init.status {
            s @ (Status::Paused | Status::Pausing)
                if !p.exec_id.is_empty() && p.status == Status::Running =>
            {
                s
            }
            _ => p.status,
        }
    }

    /// Finds the process with `pid` that has not exited yet.
    pub fn find_pid_mut(&mut self, pid: u32) -> Option<&mut Process> {
        if self.init.pid == pid && self.init.exit.is_none() {
            return Some(&mut self.init);
        }
        self.execs
            .values_mut()
            .find(|p| p.pid == pid && p.exit.is_none())
    }
}

/// Whether a container without its own pid namespace must have its
/// remaining processes killed when the init exits (containerd's
/// `ShouldKillAllOnExit`), from the bundle's `config.json`.
pub fn should_kill_all_on_exit(config: &[u8]) -> bool {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Spec {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Linux {
        namespaces: Vec<Namespace>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Namespace {
        #[serde(rename = "type")]
        kind: String,
        path: String,
    }
    let Ok(spec) = serde_json::from_slice::<Spec>(config) else {
        return true;
    };
    !spec
        .linux
        .map(|l| {
            l.namespaces
                .iter()
                .any(|n| n.kind == "pid" && n.path.is_empty())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_all_only_without_a_private_pid_namespace() {
        assert!(!should_kill_all_on_exit(
            br#"{"linux":{"namespaces":[{"type":"pid"}]}}"#
        ));
        assert!(should_kill_all_on_exit(
            br#"{"linux":{"namespaces":[{"type":"pid","path":"/proc/1/ns/pid"}]}}"#
        ));
        assert!(should_kill_all_on_exit(
            br#"{"linux":{"namespaces":[{"type":"mount"}]}}"#
        ));
        assert!(should_kill_all_on_exit(b"not json"));
    }

    #[test]
    fn exit_wakes_waiters_and_stops() {
        let mut p = Process::new("e1", Stdio::default());
        let rx = p.exited.subscribe();
        p.status = Status::Running;
        p.set_exited(3, SystemTime::UNIX_EPOCH);
        assert_eq!(p.status, Status::Stopped);
        assert_eq!(rx.borrow().map(|e| e.status), Some(3));
    }
}
