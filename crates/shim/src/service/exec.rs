//! Exec'd processes: registered by `Exec`, run by `Start`, removed by
//! `Delete`.

use std::path::Path;
use std::sync::Arc;

use crated_api::ttrpc::api::{DeleteResponse, ExecProcessRequest};
use crated_api::ttrpc::events::task::{TaskExecAdded, TaskExecStarted};
use crated_api::ttrpc::protobuf::MessageField;
use crated_api::ttrpc::topics;

use super::lifecycle::read_pid;
use super::{Shim, State, event_types};
use crate::console::Console;
use crate::error::{Error, Result, io_error};
use crate::events::timestamp;
use crate::io::{ProcessIo, Stdio};
use crate::process::{Process, Status};
use crate::runtime::Runtime;
use rustix::process::{Pid, Signal, kill_process};

impl Shim {
    /// Registers an exec'd process; it runs at `Start`.
    pub fn exec(&self, req: ExecProcessRequest) -> Result<()> {
        let any = req
            .spec
            .as_ref()
            .ok_or_else(|| Error::invalid_argument("exec process spec is required"))?;
        let mut spec: serde_json::Value = serde_json::from_slice(&any.value).map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::InvalidArgument,
                "decoding exec process spec",
                e,
            )
        })?;
        let serde_json::Value::Object(fields) = &mut spec else {
            return Err(Error::invalid_argument(
                "exec process spec is not a JSON object",
            ));
        };
        fields.insert("terminal".into(), serde_json::Value::Bool(req.terminal));
        let spec = serde_json::to_vec(&spec).map_err(|e| {
            Error::with_source(crated_core::ErrorKind::Internal, "encoding exec spec", e)
        })?;
        self.with_container(&req.id, |c| {
            match c.init.status {
                Status::Created | Status::Running => {}
                Status::Paused | Status::Pausing => {
                    return Err(Error::failed_precondition("cannot exec in a paused state"));
                }
                Status::Stopped => {
                    return Err(Error::failed_precondition("cannot exec in a stopped state"));
                }
                Status::Deleted => return Err(Error::not_found("cannot exec in a deleted state")),
            }
            if c.execs.contains_key(&req.exec_id) {
                return Err(Error::already_exists(format!("id {}", req.exec_id)));
            }
            let mut p = Process::new(
                &req.exec_id,
                Stdio {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
            );
            p.spec = spec;
            c.execs.insert(req.exec_id.clone(), p);
            Ok(())
        })?;
        let mut ev = TaskExecAdded::new();
        ev.container_id = req.id;
        ev.exec_id = req.exec_id;
        self.publisher.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            event_types::EXEC_ADDED,
            &ev,
        );
        Ok(())
    }

    /// Runs an exec'd process.
    pub async fn start_exec(self: &Arc<Self>, id: &str, exec_id: &str) -> Result<u32> {
        let (runtime, bundle, stdio, spec) = self.with_container(id, |c| {
            let (runtime, bundle) = (c.runtime.clone(), c.bundle.clone());
            let init_gone = c.init_exiting || c.init.exit.is_some();
            let p = c.process_mut(exec_id)?;
            match p.status {
                Status::Created => {}
                Status::Stopped | Status::Deleted => {
                    return Err(Error::failed_precondition("cannot start a stopped process"));
                }
                _ => return Err(Error::failed_precondition("cannot start a running process")),
            }
            if init_gone {
                return Err(Error::failed_precondition(format!(
                    "container {id} init process is not running"
                )));
            }
            p.starting = true;
            let taken = (runtime, bundle, p.stdio.clone(), p.spec.clone());
            c.running_execs += 1;
            Ok(taken)
        })?;
        self.begin_pending();
        let result = self
            .run_exec(&runtime, id, exec_id, &bundle, &stdio, &spec)
            .await;
        let mut st = self.state();
        let State {
            containers,
            unclaimed,
            ..
        } = &mut *st;
        let Some(c) = containers.get_mut(id) else {
            drop(st);
            self.end_pending();
            return Err(Error::not_found(format!(
                "container {id} deleted while {exec_id} was starting"
            )));
        };
        let late = c.init_exiting && c.kill_all_on_exit;
        let outcome = match c.execs.get_mut(exec_id) {
            None => {
                self.exec_ended(c);
                Err(Error::not_found(format!(
                    "process {exec_id} deleted while starting"
                )))
            }
            Some(p) => match result {
                Err(e) => {
                    p.set_exited(255, std::time::SystemTime::now());
                    p.starting = false;
                    self.exec_ended(c);
                    Err(e)
                }
                Ok((pid, io, console)) => {
                    p.pid = pid;
                    p.io.install(io);
                    p.console = console;
                    if p.status == Status::Created {
                        p.status = Status::Running;
                    }
                    let exited_already = match unclaimed.remove(&pid) {
                        Some(exit) => {
                            p.set_exited(exit.status, exit.at);
                            p.held_exit = true;
                            true
                        }
                        None => false,
                    };
                    if late && !exited_already {
                        // Started after the kill of the rest of a container
                        // without its own pid namespace: it must not outlive
                        // the init either.
                        if let Some(target) = Pid::from_raw(pid as i32) {
                            let _ = kill_process(target, Signal::KILL);
                        }
                    }
                    let mut ev = TaskExecStarted::new();
                    ev.container_id = id.to_string();
                    ev.exec_id = exec_id.to_string();
                    ev.pid = pid;
                    self.publisher.publish(
                        topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                        event_types::EXEC_STARTED,
                        &ev,
                    );
                    self.publish_held_exit(id, p);
                    if exited_already {
                        self.exec_ended(c);
                    }
                    Ok(pid)
                }
            },
        };
        drop(st);
        self.end_pending();
        outcome
    }

    async fn run_exec(
        &self,
        runtime: &Runtime,
        id: &str,
        exec_id: &str,
        bundle: &Path,
        stdio: &Stdio,
        spec: &[u8],
    ) -> Result<(u32, ProcessIo, Option<Console>)> {
        let process_file = bundle.join(format!(".{exec_id}.process.json"));
        std::fs::write(&process_file, spec)
            .map_err(|e| io_error(format!("writing {}", process_file.display()), e))?;
        let pid_file = bundle.join(format!("{exec_id}.pid"));
        let opened = self.open_io(stdio, exec_id).await?;
        let ran = runtime
            .exec(
                &self.reaper,
                id,
                &process_file,
                &pid_file,
                opened.socket.as_ref().map(|s| s.path()),
                opened.child,
            )
            .await;
        let _ = std::fs::remove_file(&process_file);
        if let Err(e) = ran {
            opened.keep.close(&self.reaper).await;
            return Err(e);
        }
        let (io, console) = self.finish_io(stdio, opened.socket, opened.keep).await?;
        let pid = read_pid(&pid_file)
            .map_err(|e| e.context("failed to retrieve OCI runtime exec pid"))?;
        Ok((pid, io, console))
    }

    /// Removes an exec'd process that is not running.
    pub async fn delete_exec(&self, id: &str, exec_id: &str) -> Result<DeleteResponse> {
        let (mut p, bundle) = self.with_container(id, |c| {
            let p = c.process(exec_id)?;
            if matches!(p.status, Status::Running | Status::Paused | Status::Pausing)
                && p.exit.is_none()
            {
                return Err(Error::failed_precondition(
                    "cannot delete a running process",
                ));
            }
            let p = c
                .execs
                .remove(exec_id)
                .ok_or_else(|| Error::not_found(format!("process does not exist {exec_id}")))?;
            Ok((p, c.bundle.clone()))
        })?;
        p.status = Status::Deleted;
        p.console = None;
        std::mem::take(&mut p.io).close(&self.reaper).await;
        let _ = std::fs::remove_file(bundle.join(format!("{exec_id}.pid")));
        let mut resp = DeleteResponse::new();
        resp.pid = p.pid;
        resp.exit_status = p.exit_status();
        if let Some(e) = p.exit {
            resp.exited_at = MessageField::some(timestamp(e.at));
        }
        Ok(resp)
    }
}
