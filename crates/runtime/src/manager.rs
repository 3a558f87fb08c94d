//! The shim manager: one shim per task, started on Create, reconnected
//! after a daemon restart, cleaned up after it dies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crated_api::ttrpc::api;
use crated_api::ttrpc::protobuf::{Message, well_known_types::any::Any};
use crated_core::{Error, ErrorKind, Result};

use crate::binary::{self, DaemonAddresses};
use crate::bootstrap;
use crate::bundle::Bundle;
use crate::shim::Shim;

/// Where the manager keeps bundles and how shims reach the daemon.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Persistent per-task work directories (`<root>/<ns>/<id>`).
    pub root: PathBuf,
    /// Bundles (`<state>/<ns>/<id>`).
    pub state: PathBuf,
    /// The daemon's addresses passed to shims.
    pub daemon: DaemonAddresses,
    /// Shim binaries configured per runtime name.
    pub runtime_paths: HashMap<String, PathBuf>,
    /// How long shim operations may take.
    pub timeouts: ShimTimeouts,
}

/// How long shim operations may take (containerd's
/// `io.containerd.timeout.shim.*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShimTimeouts {
    /// Connecting to a started or recovered shim's socket (`shim.load`).
    pub load: std::time::Duration,
    /// The `Shutdown` call (`shim.shutdown`).
    pub shutdown: std::time::Duration,
    /// The shim binary's `delete` after the shim died (`shim.cleanup`).
    pub cleanup: std::time::Duration,
}

impl Default for ShimTimeouts {
    fn default() -> Self {
        ShimTimeouts {
            load: std::time::Duration::from_secs(10),
            shutdown: std::time::Duration::from_secs(5),
            cleanup: std::time::Duration::from_secs(30),
        }
    }
}

/// What a task is created from.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The runtime name, e.g. `io.containerd.runc.v2`, or a shim path.
    pub runtime: String,
    /// The OCI spec, written as the bundle's `config.json`.
    pub spec: Vec<u8>,
    /// Root filesystem mounts the shim performs.
    pub rootfs: Vec<api::Mount>,
    /// Stdio FIFO paths or log URIs.
    pub stdin: String,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
    /// Whether the task has a terminal.
    pub terminal: bool,
    /// A checkpoint directory to restore from.
    pub checkpoint: String,
    /// Task options (a runtime-specific `Any`), also sent to `shim start`.
    pub options: Option<Any>,
}

/// A task exit a restart found: its shim was gone, or its init had
/// exited while the daemon was away.
#[derive(Debug, Clone)]
pub struct DeadTask {
    /// Its namespace.
    pub namespace: String,
    /// Its id.
    pub id: String,
    /// Pid, exit status and time (as the shim's `delete` or `state`
    /// reported them).
    pub exit: api::DeleteResponse,
}

/// What [`ShimManager::recover`] found.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Tasks whose shim was gone; they were cleaned up (publish their exit
    /// and delete).
    pub dead: Vec<DeadTask>,
    /// Tasks whose shim is live but whose init exited while the daemon was
    /// away (publish their exit).
    pub exited: Vec<DeadTask>,
}

/// SIGKILLs the shim `pid` and, as shims lead their own session, its
/// process group: the shim and any runtime call it left hanging.
fn kill_shim_group(pid: i32) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::{Pid, getpgid};
    let pid = Pid::from_raw(pid);
    match getpgid(Some(pid)) {
        Ok(pgid) if pgid == pid => {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        Ok(_) => {
            let _ = kill(pid, Signal::SIGKILL);
        }
        Err(_) => {}
    }
}

/// What the daemon does with a task whose shim died while it ran (publish
/// its exit and delete).
pub type DeadHandler = Arc<dyn Fn(DeadTask) + Send + Sync>;

/// Starts, tracks and cleans up shims.
pub struct ShimManager {
    config: ManagerConfig,
    shims: Mutex<HashMap<(String, String), Arc<Shim>>>,
    on_dead: Mutex<Option<DeadHandler>>,
}

/// containerd's prefix of an error starting a task's shim; clients such as
/// dockerd and ctr show it, and some match on it.
pub const START_FAILED: &str = "failed to start shim";
/// containerd's prefix of an error creating the task in a started shim
/// (an OCI runtime `create` failure, for one).
pub const CREATE_FAILED: &str = "failed to create shim task";

fn task_not_found(id: &str) -> Error {
    Error::not_found(format!("no running task found: task {id}"))
}

impl ShimManager {
    /// A manager with no shims yet; call [`ShimManager::recover`] on start.
    pub fn new(config: ManagerConfig) -> Self {
        ShimManager {
            config,
            shims: Mutex::new(HashMap::new()),
            on_dead: Mutex::new(None),
        }
    }

    /// Sets what happens to a task whose shim dies while the daemon runs,
    /// after the manager cleaned it up (see [`crate::watch`]).
    pub fn on_dead(&self, handler: impl Fn(DeadTask) + Send + Sync + 'static) {
        *self.on_dead.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
    }

    /// The handler [`ShimManager::on_dead`] set.
    pub(crate) fn dead_handler(&self) -> Option<DeadHandler> {
        self.on_dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn shims(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Shim>>> {
        self.shims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shim of task `id` in `ns`.
    pub fn get(&self, ns: &str, id: &str) -> Result<Arc<Shim>> {
        self.shims()
            .get(&(ns.to_string(), id.to_string()))
            .cloned()
            .ok_or_else(|| task_not_found(id))
    }

    /// The shims of every task in `ns`, sorted by id.
    pub fn list(&self, ns: &str) -> Vec<Arc<Shim>> {
        let mut list: Vec<Arc<Shim>> = self
            .shims()
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|(_, s)| s.clone())
            .collect();
        list.sort_by(|a, b| a.bundle.id.cmp(&b.bundle.id));
        list
    }

    /// The shims of every task in every namespace, sorted by namespace and id.
    pub fn all(&self) -> Vec<Arc<Shim>> {
        let mut list: Vec<Arc<Shim>> = self.shims().values().cloned().collect();
        list.sort_by(|a, b| {
            (&a.bundle.namespace, &a.bundle.id).cmp(&(&b.bundle.namespace, &b.bundle.id))
        });
        list
    }

    /// Creates the bundle, starts the runtime's shim and creates the task in
    /// it. On any failure everything made so far is undone (the shim is shut
    /// down, `shim delete` unmounts and removes the runtime's container, and
    /// the shim's process group is killed so no hung runtime call lingers).
    /// The work runs on its own task: a caller that goes away (a client that
    /// cancelled or passed its deadline) does not cut it short, and the task
    /// it created is deleted again.
    pub async fn create(
        self: &Arc<Self>,
        ns: &str,
        id: &str,
        opts: CreateOptions,
    ) -> Result<(Arc<Shim>, u32)> {
        if self.get(ns, id).is_ok() {
            return Err(Error::already_exists(format!("task {id}")));
        }
        let binary = binary::resolve(
            &opts.runtime,
            self.config
                .runtime_paths
                .get(&opts.runtime)
                .map(|p| p.as_path()),
        )
        .map_err(|e| e.context(format!("{START_FAILED}: failed to resolve runtime path")))?;
        let bundle = Bundle::create(&self.config.root, &self.config.state, ns, id, &opts.spec)?;
        let (done, result) = tokio::sync::oneshot::channel();
        let manager = self.clone();
        let (ns, id) = (ns.to_string(), id.to_string());
        tokio::spawn(async move {
            let created = match manager.start_and_create(&bundle, binary, &opts).await {
                Ok((shim, pid)) => {
                    manager
                        .shims()
                        .insert((ns.clone(), id.clone()), shim.clone());
                    crate::watch::spawn(&manager, shim.clone());
                    Ok((shim, pid))
                }
                Err(e) => {
                    let _ = bundle.delete();
                    Err(e)
                }
            };
            if let Err(Ok(_)) = done.send(created) {
                tracing::warn!(namespace = %ns, id = %id, "the client gave up on task create; deleting the task");
                if let Err(e) = manager.delete(&ns, &id).await {
                    tracing::warn!(namespace = %ns, id = %id, error = %e, "deleting an abandoned task");
                }
            }
        });
        result
            .await
            .map_err(|_| Error::internal("task create was interrupted"))?
    }

    async fn start_and_create(
        &self,
        bundle: &Bundle,
        binary: PathBuf,
        opts: &CreateOptions,
    ) -> Result<(Arc<Shim>, u32)> {
        let log = crate::shim_log::open(bundle)?;
        let options = match &opts.options {
            Some(any) => any
                .write_to_bytes()
                .map_err(|e| Error::with_source(ErrorKind::Internal, "encoding task options", e))?,
            None => Vec::new(),
        };
        let boot = binary::start(&binary, bundle, &self.config.daemon, &options)
            .await
            .map_err(|e| e.context(START_FAILED))?;
        let shim = match Shim::connect(
            &boot,
            bundle.clone(),
            binary.clone(),
            self.config.timeouts.load,
        )
        .await
        {
            Ok(s) => Arc::new(s.with_log(log)),
            Err(e) => {
                let _ = self.delete_shim(&binary, bundle).await;
                return Err(e.context(START_FAILED));
            }
        };
        let mut req = api::CreateTaskRequest::new();
        req.id = bundle.id.clone();
        req.bundle = bundle.path.to_string_lossy().into_owned();
        req.rootfs = opts.rootfs.clone();
        req.terminal = opts.terminal;
        req.stdin = opts.stdin.clone();
        req.stdout = opts.stdout.clone();
        req.stderr = opts.stderr.clone();
        req.checkpoint = opts.checkpoint.clone();
        if let Some(any) = &opts.options {
            req.options = Some(any.clone()).into();
        }
        let created = match shim.create(&req).await {
            Ok(resp) => bundle.mark_created().map(|()| resp.pid),
            Err(e) => Err(e),
        };
        match created {
            Ok(pid) => Ok((shim, pid)),
            Err(e) => {
                self.abandon(&shim, bundle, &binary).await;
                Err(e.context(CREATE_FAILED))
            }
        }
    }

    /// Runs the shim binary's `delete` for `bundle` within the cleanup
    /// timeout.
    async fn delete_shim(&self, binary: &std::path::Path, bundle: &Bundle) -> Result<Vec<u8>> {
        binary::delete(
            binary,
            bundle,
            &self.config.daemon,
            self.config.timeouts.cleanup,
        )
        .await
    }

    async fn stop_shim(&self, shim: &Shim) {
        let mut req = api::ShutdownRequest::new();
        req.id = shim.bundle.id.clone();
        let _ = shim.shutdown(&req, self.config.timeouts.shutdown).await;
    }

    /// Undoes a shim whose task never (fully) came to be: Shutdown, then
    /// `shim delete` (the runtime's container and the rootfs mount go), then
    /// SIGKILL for the shim's process group in case it still runs.
    async fn abandon(&self, shim: &Shim, bundle: &Bundle, binary: &Path) {
        let pid = bundle.shim_pid();
        self.stop_shim(shim).await;
        if let Err(e) = self.delete_shim(binary, bundle).await {
            tracing::warn!(id = %bundle.id, error = %e, "shim delete of an abandoned task failed");
        }
        if let Some(pid) = pid {
            kill_shim_group(pid);
        }
    }

    /// Deletes the task: asks the shim to delete it, shuts the shim down and
    /// removes the bundle. A shim that no longer answers is cleaned up with
    /// its `delete` invocation instead.
    pub async fn delete(&self, ns: &str, id: &str) -> Result<api::DeleteResponse> {
        let shim = self.get(ns, id)?;
        let mut req = api::DeleteRequest::new();
        req.id = id.to_string();
        let resp = match shim.delete(&req).await {
            Ok(resp) => {
                shim.mark_closing();
                self.stop_shim(&shim).await;
                resp
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                shim.mark_closing();
                tracing::warn!(namespace = ns, id, error = %e, "shim gone; cleaning up");
                self.cleanup_dead(&shim.bundle, &shim.binary).await
            }
            Err(e) => return Err(e),
        };
        shim.bundle.delete()?;
        self.shims().remove(&(ns.to_string(), id.to_string()));
        Ok(resp)
    }

    pub(crate) async fn cleanup_dead(
        &self,
        bundle: &Bundle,
        binary: &std::path::Path,
    ) -> api::DeleteResponse {
        match self.delete_shim(binary, bundle).await {
            Ok(bytes) => api::DeleteResponse::parse_from_bytes(&bytes).unwrap_or_else(|e| {
                tracing::warn!(id = %bundle.id, error = %e, "shim delete printed no DeleteResponse");
                dead_exit()
            }),
            Err(e) => {
                tracing::warn!(id = %bundle.id, error = %e, "shim delete failed");
                dead_exit()
            }
        }
    }

    /// Reconnects to the shims of tasks that were running when the daemon
    /// stopped. Tasks whose shim is gone are cleaned up and reported dead;
    /// live tasks whose init exited meanwhile are reported exited, so their
    /// exits can be published. A shim whose task cannot be loaded (no task,
    /// or a Create that a crash interrupted) is shut down, its runtime
    /// container and mounts removed with `shim delete`, and its bundle
    /// deleted.
    /// Each reconnected shim is watched from then on (see [`crate::watch`]).
    pub async fn recover(self: &Arc<Self>) -> Recovery {
        let mut found = Recovery::default();
        for (ns, id) in Bundle::list(&self.config.state) {
            let bundle = Bundle::at(&self.config.root, &self.config.state, &ns, &id);
            let binary =
                std::fs::read_to_string(bundle.path.join("shim-binary-path")).map(PathBuf::from);
            let connected = match (bootstrap::load(&bundle.path), &binary) {
                (Ok(boot), Ok(binary)) => {
                    Shim::connect(
                        &boot,
                        bundle.clone(),
                        binary.clone(),
                        self.config.timeouts.load,
                    )
                    .await
                }
                (Err(e), _) => Err(e),
                (_, Err(e)) => Err(Error::not_found(format!("shim binary of {id}: {e}"))),
            };
            let mut live = None;
            match connected {
                Ok(shim) => {
                    let shim = shim.with_log(crate::shim_log::open(&bundle).ok().flatten());
                    match loaded_state(&shim, &bundle).await {
                        Ok(state) => {
                            tracing::info!(namespace = %ns, id = %id, "reconnected to shim");
                            if state.status.enum_value_or_default() == api::Status::STOPPED {
                                found.exited.push(DeadTask {
                                    namespace: ns.clone(),
                                    id: id.clone(),
                                    exit: exit_of(&state),
                                });
                            }
                            let shim = Arc::new(shim);
                            self.shims().insert((ns.clone(), id.clone()), shim.clone());
                            crate::watch::spawn(self, shim);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(namespace = %ns, id = %id, error = %e, "shim has no task to load; removing it");
                            live = Some(shim);
                        }
                    }
                }
                Err(e) => {
                    tracing::info!(namespace = %ns, id = %id, error = %e, "shim not reachable")
                }
            }
            let exit = match (&live, &binary) {
                (Some(shim), Ok(binary)) => {
                    self.abandon(shim, &bundle, binary).await;
                    // Clients never saw a task whose create was interrupted.
                    bundle.is_created().then(dead_exit)
                }
                (None, Ok(binary)) => Some(self.cleanup_dead(&bundle, binary).await),
                (_, Err(_)) => Some(dead_exit()),
            };
            if let Err(e) = bundle.delete() {
                tracing::warn!(namespace = %ns, id = %id, error = %e, "removing bundle of dead shim");
            }
            if let Some(exit) = exit {
                found.dead.push(DeadTask {
                    namespace: ns,
                    id,
                    exit,
                });
            }
        }
        found
    }
}

/// The init state of the task a reconnected shim holds; an error when it
/// holds none, or only the leftovers of a Create that never finished.
async fn loaded_state(shim: &Shim, bundle: &Bundle) -> Result<api::StateResponse> {
    let mut connect = api::ConnectRequest::new();
    connect.id = bundle.id.clone();
    shim.connect_info(&connect).await?;
    let mut req = api::StateRequest::new();
    req.id = bundle.id.clone();
    let state = shim.state(&req).await?;
    if !bundle.is_created() && state.status.enum_value_or_default() == api::Status::CREATED {
        return Err(Error::failed_precondition(format!(
            "the create of task {} was interrupted",
            bundle.id
        )));
    }
    Ok(state)
}

/// The exit a stopped task's state reports, as a `DeleteResponse`.
fn exit_of(state: &api::StateResponse) -> api::DeleteResponse {
    let mut exit = api::DeleteResponse::new();
    exit.pid = state.pid;
    exit.exit_status = state.exit_status;
    exit.exited_at = state.exited_at.clone();
    exit
}

/// The exit containerd reports for a task whose shim vanished: SIGKILL.
fn dead_exit() -> api::DeleteResponse {
    let mut resp = api::DeleteResponse::new();
    resp.exit_status = 128 + libc::SIGKILL as u32;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut ts = crated_api::ttrpc::protobuf::well_known_types::timestamp::Timestamp::new();
    ts.seconds = now.as_secs() as i64;
    ts.nanos = now.subsec_nanos() as i32;
    resp.exited_at = Some(ts).into();
    resp
}
