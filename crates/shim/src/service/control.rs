//! Operations on running tasks: State, Kill, Pids, Pause, Resume,
//! Checkpoint, Update, Stats, Wait, CloseIO, ResizePty.

use std::collections::HashMap;
use std::path::PathBuf;

use crated_api::ttrpc::api::{
    CheckpointTaskRequest, ProcessInfo, StateResponse, UpdateTaskRequest, WaitResponse,
};
use crated_api::ttrpc::events::task::{TaskPaused, TaskResumed};
use crated_api::ttrpc::protobuf::MessageField;
use crated_api::ttrpc::protobuf::well_known_types::any::Any;
use crated_api::ttrpc::topics;
use rustix::process::{Pid, Signal, kill_process};

use super::{Shim, event_types};
use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::events::timestamp;
use crate::options::{CheckpointOptions, PROCESS_DETAILS, process_details};
use crate::process::Status;
use crate::runtime::CheckpointArgs;

impl Shim {
    /// The state of a process.
    pub fn task_state(&self, id: &str, exec_id: &str) -> Result<StateResponse> {
        self.with_container(id, |c| {
            let p = c.process(exec_id)?;
            let mut r = StateResponse::new();
            r.id = if exec_id.is_empty() {
                c.id.clone()
            } else {
                exec_id.to_string()
            };
            r.bundle = c.bundle.to_string_lossy().into_owned();
            r.pid = p.pid;
            r.status = c.status_of(p).wire().into();
            r.stdin = p.stdio.stdin.clone();
            r.stdout = p.stdio.stdout.clone();
            r.stderr = p.stdio.stderr.clone();
            r.terminal = p.stdio.terminal;
            r.exit_status = p.exit_status();
            if let Some(e) = p.exit {
                r.exited_at = MessageField::some(timestamp(e.at));
            }
            r.exec_id = exec_id.to_string();
            Ok(r)
        })
    }

    /// Signals a process; `all` signals every process of the container.
    pub async fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let runtime = self.with_container(id, |c| {
            if exec_id.is_empty() {
                if c.init.status == Status::Deleted {
                    return Err(Error::not_found("cannot kill a deleted process"));
                }
                return Ok(Some(c.runtime.clone()));
            }
            let p = c.process(exec_id)?;
            if p.pid == 0 {
                return Err(Error::failed_precondition("process not created"));
            }
            if p.exit.is_some() {
                return Err(Error::not_found("process already finished"));
            }
            kill_pid(p.pid, signal)?;
            Ok(None)
        })?;
        match runtime {
            Some(rt) => rt.kill(&self.reaper, id, signal, all).await,
            None => Ok(()),
        }
    }

    /// The processes in the container; exec'd ones carry their exec id.
    pub async fn pids(&self, id: &str) -> Result<Vec<ProcessInfo>> {
        let runtime = self.with_container(id, |c| Ok(c.runtime.clone()))?;
        let pids = runtime.ps(&self.reaper, id).await?;
        let execs: HashMap<u32, String> = self.with_container(id, |c| {
            Ok(c.execs
                .values()
                .map(|p| (p.pid, p.exec_id.clone()))
                .collect())
        })?;
        Ok(pids
            .into_iter()
            .map(|pid| {
                let mut info = ProcessInfo::new();
                info.pid = pid;
                if let Some(exec_id) = execs.get(&pid) {
                    let mut any = Any::new();
                    any.type_url = PROCESS_DETAILS.to_string();
                    any.value = process_details(exec_id);
                    info.info = MessageField::some(any);
                }
                info
            })
            .collect())
    }

    /// Freezes the container.
    pub async fn pause(&self, id: &str) -> Result<()> {
        let runtime = self.with_container(id, |c| {
            match c.init.status {
                Status::Running => {}
                Status::Created => {
                    return Err(Error::failed_precondition(
                        "cannot pause task in created state",
                    ));
                }
                Status::Paused | Status::Pausing => {
                    return Err(Error::failed_precondition(
                        "cannot pause a paused container",
                    ));
                }
                Status::Stopped => {
                    return Err(Error::failed_precondition(
                        "cannot pause a stopped container",
                    ));
                }
                Status::Deleted => return Err(Error::not_found("cannot pause a deleted process")),
            }
            c.init.status = Status::Pausing;
            Ok(c.runtime.clone())
        })?;
        let result = runtime.pause(&self.reaper, id).await;
        self.with_container(id, |c| {
            if c.init.status == Status::Pausing {
                c.init.status = if result.is_ok() {
                    Status::Paused
                } else {
                    Status::Running
                };
            }
            Ok(())
        })?;
        result?;
        let mut ev = TaskPaused::new();
        ev.container_id = id.to_string();
        self.publisher
            .publish(topics::TASK_PAUSED_EVENT_TOPIC, event_types::PAUSED, &ev);
        Ok(())
    }

    /// Thaws the container.
    pub async fn resume(&self, id: &str) -> Result<()> {
        let runtime = self.with_container(id, |c| match c.init.status {
            Status::Paused => Ok(c.runtime.clone()),
            Status::Running | Status::Pausing => Err(Error::failed_precondition(
                "cannot resume a running process",
            )),
            Status::Created => Err(Error::failed_precondition(
                "cannot resume task in created state",
            )),
            Status::Stopped => Err(Error::failed_precondition(
                "cannot resume a stopped container",
            )),
            Status::Deleted => Err(Error::not_found("cannot resume a deleted process")),
        })?;
        runtime.resume(&self.reaper, id).await?;
        self.with_container(id, |c| {
            if c.init.status == Status::Paused {
                c.init.status = Status::Running;
            }
            Ok(())
        })?;
        let mut ev = TaskResumed::new();
        ev.container_id = id.to_string();
        self.publisher
            .publish(topics::TASK_RESUMED_EVENT_TOPIC, event_types::RESUMED, &ev);
        Ok(())
    }

    /// Checkpoints the container with criu through the runtime.
    pub async fn checkpoint(&self, req: &CheckpointTaskRequest) -> Result<()> {
        let (runtime, bundle) = self.with_container(&req.id, |c| match c.init.status {
            Status::Running | Status::Paused => Ok((c.runtime.clone(), c.bundle.clone())),
            Status::Created => Err(Error::failed_precondition(
                "cannot checkpoint a task in created state",
            )),
            Status::Pausing => Err(Error::failed_precondition(
                "cannot checkpoint a pausing task",
            )),
            Status::Stopped => Err(Error::failed_precondition(
                "cannot checkpoint a stopped container",
            )),
            Status::Deleted => Err(Error::not_found("cannot checkpoint a deleted process")),
        })?;
        let opts = match req.options.as_ref() {
            Some(a) => CheckpointOptions::from_any(&a.type_url, &a.value)?,
            None => CheckpointOptions::default(),
        };
        let image = if req.path.is_empty() {
            opts.image_path.clone()
        } else {
            req.path.clone()
        };
        if image.is_empty() {
            return Err(Error::invalid_argument("checkpoint image path is required"));
        }
        let (work, temporary) = match opts.work_path.as_str() {
            "" => (bundle.join("work").join("criu-work"), true),
            w => (PathBuf::from(w), false),
        };
        let _ = std::fs::create_dir_all(&work);
        let args = CheckpointArgs {
            image_path: &image,
            work_path: &work,
            leave_running: !opts.exit,
            open_tcp: opts.open_tcp,
            external_unix_sockets: opts.external_unix_sockets,
            terminal: opts.terminal,
            file_locks: opts.file_locks,
            empty_namespaces: &opts.empty_namespaces,
        };
        let result = runtime.checkpoint(&self.reaper, &req.id, &args).await;
        let result = result.map_err(|e| {
            let dump_log = bundle.join("criu-dump.log");
            let _ = std::fs::copy(work.join("dump.log"), &dump_log);
            Error::new(
                e.kind(),
                format!("{} path= {}", e.message(), dump_log.display()),
            )
        });
        if temporary {
            let _ = std::fs::remove_dir_all(&work);
        }
        result
    }

    /// Changes the container's resources (a JSON `LinuxResources`).
    pub async fn update(&self, req: &UpdateTaskRequest) -> Result<()> {
        let runtime = self.with_container(&req.id, |c| match c.init.status {
            Status::Stopped => Err(Error::failed_precondition(
                "cannot update a stopped container",
            )),
            Status::Deleted => Err(Error::not_found("cannot update a deleted process")),
            _ => Ok(c.runtime.clone()),
        })?;
        let resources = req
            .resources
            .as_ref()
            .ok_or_else(|| Error::invalid_argument("update needs resources"))?;
        runtime
            .update(&self.reaper, &req.id, &resources.value)
            .await
    }

    /// The container's cgroup metrics.
    pub fn stats(&self, id: &str) -> Result<Any> {
        let cgroup = self.with_container(id, |c| {
            if c.cgroup.is_none() && c.init.pid > 0 && c.init.exit.is_none() {
                c.cgroup = Cgroup::of_pid(c.init.pid).ok();
            }
            c.cgroup
                .clone()
                .ok_or_else(|| Error::not_found("cgroup does not exist"))
        })?;
        let (type_url, value) = cgroup.metrics()?;
        let mut any = Any::new();
        any.type_url = type_url.to_string();
        any.value = value;
        Ok(any)
    }

    /// Waits for a process to exit.
    pub async fn wait(&self, id: &str, exec_id: &str) -> Result<WaitResponse> {
        let mut rx = self.with_container(id, |c| Ok(c.process(exec_id)?.exited.subscribe()))?;
        let waited = rx.wait_for(Option::is_some).await.map(|v| *v);
        let exit = waited.unwrap_or_else(|_| *rx.borrow());
        let exit = exit.ok_or_else(|| {
            Error::not_found(format!("process {exec_id} was deleted before it exited"))
        })?;
        let mut r = WaitResponse::new();
        r.exit_status = exit.status;
        r.exited_at = MessageField::some(timestamp(exit.at));
        Ok(r)
    }

    /// Closes the shim's end of a process's stdin.
    pub fn close_io(&self, id: &str, exec_id: &str) -> Result<()> {
        self.with_container(id, |c| {
            c.process_mut(exec_id)?.io.close_stdin();
            Ok(())
        })
    }

    /// Resizes a process's terminal; a process without one is left alone.
    pub fn resize_pty(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        self.with_container(id, |c| match &c.process(exec_id)?.console {
            Some(console) => console.resize(width, height),
            None => Ok(()),
        })
    }
}

/// Sends `signal` to `pid`; a process that is gone is `NotFound`.
fn kill_pid(pid: u32, signal: u32) -> Result<()> {
    let sig = Signal::from_named_raw(signal as i32).ok_or_else(|| {
        Error::invalid_argument(format!(
            "signal {signal} cannot be sent to an exec'd process"
        ))
    })?;
    let pid = Pid::from_raw(pid as i32)
        .ok_or_else(|| Error::failed_precondition("process not created"))?;
    match kill_process(pid, sig) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::SRCH) => Err(Error::not_found("process already finished")),
        Err(e) => Err(Error::with_source(
            crated_core::ErrorKind::Unknown,
            "exec kill error",
            e,
        )),
    }
}
