//! Create, Start and Delete of a container's init process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crated_api::ttrpc::api::{CreateTaskRequest, DeleteResponse};
use crated_api::ttrpc::events::task::{TaskCreate, TaskDelete, TaskIO, TaskOOM, TaskStart};
use crated_api::ttrpc::protobuf::MessageField;
use crated_api::ttrpc::topics;

use super::{Shim, event_types, exit_event};
use crate::cgroup::{Cgroup, oom};
use crate::console::{Console, ConsoleSocket};
use crate::error::{Error, Result, io_error};
use crate::events::timestamp;
use crate::io::{self, ProcessIo, Stdio};
use crate::mount::{mount_rootfs, unmount_rootfs};
use crate::options::RuncOptions;
use crate::process::{Container, Process, Status, should_kill_all_on_exit};
use crate::runtime::{ChildStdio, CreateArgs, Runtime};

/// A process's stdio opened for the OCI runtime, and what the shim keeps.
pub(super) struct OpenedIo {
    pub child: ChildStdio,
    pub keep: ProcessIo,
    pub socket: Option<ConsoleSocket>,
}

impl Shim {
    /// Creates the container (or, with a checkpoint, prepares its restore).
    pub async fn create(self: &Arc<Self>, req: CreateTaskRequest) -> Result<u32> {
        let id = req.id.clone();
        {
            let mut st = self.state();
            if st.containers.contains_key(&id) || st.creating.contains(&id) {
                return Err(Error::already_exists(format!("container {id}")));
            }
            st.creating.push(id.clone());
            st.pending += 1;
        }
        let result = self.create_container(&req).await;
        let mut st = self.state();
        st.creating.retain(|c| c != &id);
        let outcome = result.map(|mut c| {
            // The init may have been killed before its pid was known.
            let early_exit = st.unclaimed.remove(&c.init.pid).map(|exit| {
                c.init.set_exited(exit.status, exit.at);
                exit_event(&id, &c.init)
            });
            let pid = c.init.pid;
            st.containers.insert(id.clone(), c);
            (pid, early_exit)
        });
        st.pending = st.pending.saturating_sub(1);
        if st.pending == 0 {
            st.unclaimed.clear();
        }
        drop(st);
        let (pid, early_exit) = outcome?;
        let mut ev = TaskCreate::new();
        ev.container_id = id;
        ev.bundle = req.bundle;
        ev.rootfs = req.rootfs;
        let mut tio = TaskIO::new();
        tio.stdin = req.stdin;
        tio.stdout = req.stdout;
        tio.stderr = req.stderr;
        tio.terminal = req.terminal;
        ev.io = MessageField::some(tio);
        ev.checkpoint = req.checkpoint;
        ev.pid = pid;
        self.publisher
            .publish(topics::TASK_CREATE_EVENT_TOPIC, event_types::CREATE, &ev);
        if let Some(ev) = early_exit {
            self.publisher
                .publish(topics::TASK_EXIT_EVENT_TOPIC, event_types::EXIT, &ev);
        }
        Ok(pid)
    }

    async fn create_container(&self, req: &CreateTaskRequest) -> Result<Container> {
        let bundle = PathBuf::from(&req.bundle);
        let options = match req.options.as_ref() {
            Some(any) if !any.type_url.is_empty() => {
                RuncOptions::from_any(&any.type_url, &any.value)?
            }
            _ => RuncOptions::default(),
        };
        options.save(&bundle)?;
        let root = options.runtime_root(&bundle, &self.namespace);
        let runtime = Runtime::new(options.binary(), root, &bundle)
            .with(options.systemd_cgroup, &options.criu_path);
        let rootfs = if req.rootfs.is_empty() {
            None
        } else {
            let rootfs = bundle.join("rootfs");
            mount_rootfs(&req.rootfs, &rootfs)?;
            Some(rootfs)
        };
        let config = std::fs::read(bundle.join("config.json")).unwrap_or_default();
        let mut c = Container {
            id: req.id.clone(),
            bundle,
            rootfs,
            runtime,
            options,
            init: Process::new(
                "",
                Stdio {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
            ),
            execs: HashMap::new(),
            cgroup: None,
            kill_all_on_exit: should_kill_all_on_exit(&config),
            checkpoint: (!req.checkpoint.is_empty()).then(|| req.checkpoint.clone()),
            init_exiting: false,
            running_execs: 0,
            held_init_exit: None,
        };
        if c.checkpoint.is_some() {
            // `runc restore` creates and starts at once, at `Start`.
            return Ok(c);
        }
        if let Err(e) = self.create_init(&mut c, None).await {
            if let Some(r) = &c.rootfs
                && let Err(u) = unmount_rootfs(r)
            {
                tracing::warn!(error = %u, "cleaning up after failed create");
            }
            return Err(e);
        }
        Ok(c)
    }

    /// Runs `create` (or `restore` from `image`) for the init process and
    /// fills in its pid, stdio and cgroup.
    async fn create_init(&self, c: &mut Container, image: Option<&str>) -> Result<()> {
        let opened = self.open_io(&c.init.stdio, &c.id).await?;
        let pid_file = c.bundle.join("init.pid");
        let work = match c.options.criu_work_path.as_str() {
            "" => c.bundle.join("work"),
            w => PathBuf::from(w),
        };
        let args = CreateArgs {
            id: &c.id,
            bundle: &c.bundle,
            pid_file: &pid_file,
            console_socket: opened.socket.as_ref().map(|s| s.path()),
            no_pivot: c.options.no_pivot_root,
            no_new_keyring: c.options.no_new_keyring,
            stdio: opened.child,
            restore: image.map(|i| (i, work.as_path())),
        };
        if let Err(e) = c.runtime.create(&self.reaper, args).await {
            opened.keep.close(&self.reaper).await;
            return Err(e);
        }
        match self
            .finish_io(&c.init.stdio, opened.socket, opened.keep)
            .await
        {
            Ok((keep, console)) => {
                c.init.io = keep;
                c.init.console = console;
            }
            Err(e) => {
                let _ = c.runtime.delete(&self.reaper, &c.id, true).await;
                return Err(e);
            }
        }
        c.init.pid = read_pid(&pid_file)
            .map_err(|e| e.context("failed to retrieve OCI runtime container pid"))?;
        c.cgroup = Cgroup::of_pid(c.init.pid)
            .inspect_err(|e| tracing::warn!(pid = c.init.pid, error = %e, "loading cgroup"))
            .ok();
        Ok(())
    }

    /// Opens stdio for a process: FIFOs for the runtime, or a console socket.
    pub(super) async fn open_io(&self, stdio: &Stdio, id: &str) -> Result<OpenedIo> {
        if stdio.terminal {
            return Ok(OpenedIo {
                child: ChildStdio::default(),
                keep: ProcessIo::default(),
                socket: Some(ConsoleSocket::new()?),
            });
        }
        let (child, keep) = io::open(stdio, &self.namespace, id, &self.reaper).await?;
        Ok(OpenedIo {
            child,
            keep,
            socket: None,
        })
    }

    /// After the runtime ran: receives the pty master and starts copying.
    pub(super) async fn finish_io(
        &self,
        stdio: &Stdio,
        socket: Option<ConsoleSocket>,
        mut keep: ProcessIo,
    ) -> Result<(ProcessIo, Option<Console>)> {
        let Some(socket) = socket else {
            keep.started();
            return Ok((keep, None));
        };
        let master = socket.receive_master().await?;
        let console = Console::start(master, &stdio.stdin, &stdio.stdout)?;
        let writer = if stdio.stdin.is_empty() {
            None
        } else {
            Some(io::open_stdin_writer(&stdio.stdin)?)
        };
        Ok((ProcessIo::with_stdin_writer(writer), Some(console)))
    }

    /// Starts the init process.
    pub async fn start_init(self: &Arc<Self>, id: &str) -> Result<u32> {
        let (runtime, checkpoint) = self.with_container(id, |c| {
            match c.init.status {
                Status::Created => {}
                Status::Running | Status::Pausing => {
                    return Err(Error::failed_precondition("cannot start a running process"));
                }
                Status::Paused => {
                    return Err(Error::failed_precondition("cannot start a paused process"));
                }
                Status::Stopped => {
                    return Err(Error::failed_precondition("cannot start a stopped process"));
                }
                Status::Deleted => return Err(Error::not_found("cannot start a deleted process")),
            }
            c.init.starting = true;
            Ok((c.runtime.clone(), c.checkpoint.take()))
        })?;
        let result = match checkpoint {
            None => runtime.start(&self.reaper, id).await,
            Some(image) => self.restore(id, &image).await,
        };
        let mut st = self.state();
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::not_found("container deleted while starting"))?;
        if let Err(e) = result {
            self.publish_held_exit(id, &mut c.init);
            return Err(e);
        }
        if c.init.status == Status::Created {
            c.init.status = Status::Running;
        }
        if c.cgroup.is_none() && c.init.pid > 0 {
            c.cgroup = Cgroup::of_pid(c.init.pid).ok();
        }
        let pid = c.init.pid;
        let mut ev = TaskStart::new();
        ev.container_id = id.to_string();
        ev.pid = pid;
        self.publisher
            .publish(topics::TASK_START_EVENT_TOPIC, event_types::START, &ev);
        self.publish_held_exit(id, &mut c.init);
        if let Some(cg) = &c.cgroup {
            let publisher = self.publisher.clone();
            let container_id = id.to_string();
            let watched = oom::watch(cg, move || {
                let mut ev = TaskOOM::new();
                ev.container_id = container_id.clone();
                publisher.publish(topics::TASK_OOM_EVENT_TOPIC, event_types::OOM, &ev);
            });
            if let Err(e) = watched {
                tracing::warn!(id, error = %e, "OOM events will not be reported");
            }
        }
        Ok(pid)
    }

    /// `runc restore` of a container created from a checkpoint.
    async fn restore(&self, id: &str, image: &str) -> Result<()> {
        // The container stays registered while restoring; work on a copy of
        // what the restore needs and write the outcome back.
        let mut c = self.with_container(id, |c| {
            Ok(Container {
                id: c.id.clone(),
                bundle: c.bundle.clone(),
                rootfs: None,
                runtime: c.runtime.clone(),
                options: c.options.clone(),
                init: Process::new("", c.init.stdio.clone()),
                execs: HashMap::new(),
                cgroup: None,
                kill_all_on_exit: c.kill_all_on_exit,
                checkpoint: None,
                init_exiting: false,
                running_execs: 0,
                held_init_exit: None,
            })
        })?;
        self.begin_pending();
        let result = self.create_init(&mut c, Some(image)).await;
        let mut st = self.state();
        let unclaimed = result
            .is_ok()
            .then(|| st.unclaimed.remove(&c.init.pid))
            .flatten();
        if let Some(orig) = st.containers.get_mut(id)
            && result.is_ok()
        {
            orig.init.pid = c.init.pid;
            orig.init.io = std::mem::take(&mut c.init.io);
            orig.init.console = c.init.console.take();
            orig.cgroup = c.cgroup.take();
            if let Some(exit) = unclaimed {
                orig.init.set_exited(exit.status, exit.at);
            }
        }
        drop(st);
        self.end_pending();
        result
    }

    /// Deletes the init process: the runtime's container, the rootfs mounts
    /// and the stdio; publishes `/tasks/delete`.
    pub async fn delete_init(self: &Arc<Self>, id: &str) -> Result<DeleteResponse> {
        let (runtime, rootfs) = self.with_container(id, |c| match c.init.status {
            Status::Running | Status::Pausing => Err(Error::failed_precondition(
                "cannot delete a running process",
            )),
            Status::Paused => Err(Error::failed_precondition("cannot delete a paused process")),
            Status::Deleted => Err(Error::not_found("cannot delete a deleted process")),
            Status::Created | Status::Stopped => Ok((c.runtime.clone(), c.rootfs.clone())),
        })?;
        runtime.delete(&self.reaper, id, false).await?;
        if let Some(r) = &rootfs {
            unmount_rootfs(r)?;
        }
        let mut c = {
            let mut st = self.state();
            st.containers
                .remove(id)
                .ok_or_else(|| Error::not_found("container not created"))?
        };
        c.init.status = Status::Deleted;
        c.init.console = None;
        std::mem::take(&mut c.init.io).close(&self.reaper).await;
        for (_, mut p) in c.execs.drain() {
            p.console = None;
            std::mem::take(&mut p.io).close(&self.reaper).await;
        }
        let mut resp = DeleteResponse::new();
        resp.pid = c.init.pid;
        resp.exit_status = c.init.exit_status();
        if let Some(e) = c.init.exit {
            resp.exited_at = MessageField::some(timestamp(e.at));
        }
        let mut ev = TaskDelete::new();
        ev.container_id = id.to_string();
        ev.pid = resp.pid;
        ev.exit_status = resp.exit_status;
        ev.exited_at = resp.exited_at.clone();
        self.publisher
            .publish(topics::TASK_DELETE_EVENT_TOPIC, event_types::DELETE, &ev);
        Ok(resp)
    }
}

/// Reads a pid file the OCI runtime wrote.
pub(super) fn read_pid(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io_error(format!("reading {}", path.display()), e))?;
    text.trim().parse().map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Unknown,
            format_args!("parsing {}", path.display()),
            e,
        )
    })
}
