//! The task service: containers and processes driven through the OCI
//! runtime, exits turned into state and events.
//!
//! All state sits behind one mutex that is never held across an `.await`;
//! operations that run the OCI runtime take what they need, release the
//! lock, run, and take it again to record the outcome.

mod control;
mod exec;
mod lifecycle;
pub mod ttrpc;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crated_api::ttrpc::events::task::TaskExit;
use crated_api::ttrpc::protobuf::MessageField;
use crated_api::ttrpc::topics;
use tokio::sync::{Notify, mpsc};

use crate::error::{Error, Result};
use crate::events::{Publisher, timestamp};
use crate::process::{Container, Process};
use crate::reaper::{Exit, Reaper};

/// Type URLs of the task events.
mod event_types {
    pub const CREATE: &str = "containerd.events.TaskCreate";
    pub const START: &str = "containerd.events.TaskStart";
    pub const DELETE: &str = "containerd.events.TaskDelete";
    pub const EXIT: &str = "containerd.events.TaskExit";
    pub const OOM: &str = "containerd.events.TaskOOM";
    pub const EXEC_ADDED: &str = "containerd.events.TaskExecAdded";
    pub const EXEC_STARTED: &str = "containerd.events.TaskExecStarted";
    pub const PAUSED: &str = "containerd.events.TaskPaused";
    pub const RESUMED: &str = "containerd.events.TaskResumed";
}

/// How long the exit of an init waits for the rest of its container to be
/// killed before it is reported anyway.
const KILL_ALL_BOUND: Duration = Duration::from_secs(10);

/// The shim's state.
#[derive(Default)]
struct State {
    containers: HashMap<String, Container>,
    /// Container ids with a `Create` in flight.
    creating: Vec<String>,
    /// Exits of pids no process claimed yet, kept while a create or exec
    /// is in flight (the process may exit before its pid file is read).
    unclaimed: HashMap<u32, Exit>,
    /// Creates and execs in flight.
    pending: usize,
}

/// The task service shared by every connection.
pub struct Shim {
    namespace: String,
    reaper: Arc<Reaper>,
    publisher: Publisher,
    state: Mutex<State>,
    shutdown: Arc<Notify>,
}

impl Shim {
    /// A service for `namespace`; `shutdown` is notified when it is asked to
    /// exit and has no containers left.
    pub fn new(
        namespace: &str,
        reaper: Arc<Reaper>,
        publisher: Publisher,
        shutdown: Arc<Notify>,
    ) -> Arc<Shim> {
        Arc::new(Shim {
            namespace: namespace.to_string(),
            reaper,
            publisher,
            state: Mutex::new(State::default()),
            shutdown,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Consumes the exits nobody subscribed to.
    pub fn handle_exits(self: &Arc<Self>, mut exits: mpsc::UnboundedReceiver<Exit>) {
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(exit) = exits.recv().await {
                me.on_exit(exit);
            }
        });
    }

    /// Handles the exit of a child. An init's exit, once collected, lets no
    /// more exec start; in a container without its own pid namespace it
    /// first kills every other process of the container (as containerd's
    /// shim does), so nothing of it still runs once the exit is reported;
    /// and it is reported after the exits of the execs already started.
    fn on_exit(self: &Arc<Self>, exit: Exit) {
        let init_of = {
            let mut st = self.state();
            st.containers
                .values_mut()
                .find(|c| c.init.pid == exit.pid && c.init.exit.is_none() && !c.init_exiting)
                .map(|c| {
                    c.init_exiting = true;
                    (c.id.clone(), c.kill_all_on_exit.then(|| c.runtime.clone()))
                })
        };
        let Some((id, kill_all)) = init_of else {
            self.record_exit(exit);
            return;
        };
        let Some(runtime) = kill_all else {
            self.init_exited(&id, exit);
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let killing = runtime.kill(&me.reaper, &id, 9, true);
            match tokio::time::timeout(KILL_ALL_BOUND, killing).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(id, error = %e, "killing the remaining processes after init exit");
                }
                Err(_) => {
                    tracing::warn!(
                        id,
                        "killing the remaining processes after init exit took over {KILL_ALL_BOUND:?}; reporting the exit anyway"
                    );
                }
            }
            me.init_exited(&id, exit);
        });
    }

    /// Records the init's exit of container `id` now, or holds it while
    /// execs started before it still run.
    fn init_exited(&self, id: &str, exit: Exit) {
        {
            let mut st = self.state();
            if let Some(c) = st.containers.get_mut(id)
                && c.running_execs > 0
            {
                c.held_init_exit = Some(exit);
                return;
            }
        }
        self.record_exit(exit);
    }

    /// Records the exit of a container process and publishes it, unless the
    /// process is still starting (then `Start` publishes it after its own
    /// event). An exit no process claims is kept while pids are pending.
    fn record_exit(&self, exit: Exit) {
        let mut st = self.state();
        let mut found = false;
        for c in st.containers.values_mut() {
            let id = c.id.clone();
            let Some(p) = c.find_pid_mut(exit.pid) else {
                continue;
            };
            found = true;
            p.set_exited(exit.status, exit.at);
            let is_exec = !p.exec_id.is_empty();
            if p.starting {
                p.held_exit = true;
            } else {
                let ev = exit_event(&id, p);
                self.publisher
                    .publish(topics::TASK_EXIT_EVENT_TOPIC, event_types::EXIT, &ev);
            }
            if is_exec {
                self.exec_ended(c);
            }
            break;
        }
        if !found && st.pending > 0 {
            st.unclaimed.insert(exit.pid, exit);
        }
    }

    /// Counts off an exec whose start was accepted and that has now ended;
    /// the last one releases an init exit held for it.
    fn exec_ended(&self, c: &mut Container) {
        c.running_execs = c.running_execs.saturating_sub(1);
        if c.running_execs > 0 {
            return;
        }
        if let Some(exit) = c.held_init_exit.take() {
            c.init.set_exited(exit.status, exit.at);
            let ev = exit_event(&c.id, &c.init);
            self.publisher
                .publish(topics::TASK_EXIT_EVENT_TOPIC, event_types::EXIT, &ev);
        }
    }

    /// Notes a create or exec in flight: exits are kept until it claims its pid.
    fn begin_pending(&self) {
        self.state().pending += 1;
    }

    /// Ends what [`Shim::begin_pending`] began.
    fn end_pending(&self) {
        let mut st = self.state();
        st.pending = st.pending.saturating_sub(1);
        if st.pending == 0 {
            st.unclaimed.clear();
        }
    }

    /// Publishes the exit held back while the process was starting.
    fn publish_held_exit(&self, container_id: &str, p: &mut Process) {
        p.starting = false;
        if std::mem::take(&mut p.held_exit) {
            let ev = exit_event(container_id, p);
            self.publisher
                .publish(topics::TASK_EXIT_EVENT_TOPIC, event_types::EXIT, &ev);
        }
    }

    /// Runs `f` on container `id`.
    fn with_container<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.state();
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::not_found("container not created"))?;
        f(c)
    }

    /// Asks the server to exit if no container is left.
    pub fn shutdown_if_idle(&self) -> bool {
        let st = self.state();
        if st.containers.is_empty() && st.creating.is_empty() {
            self.shutdown.notify_one();
            return true;
        }
        false
    }

    /// The pid of container `id`'s init, 0 when there is none.
    pub fn task_pid(&self, id: &str) -> u32 {
        self.state()
            .containers
            .get(id)
            .map(|c| c.init.pid)
            .unwrap_or(0)
    }

    /// Waits until queued events are sent.
    pub async fn flush_events(&self) {
        self.publisher.flush().await;
    }
}

fn exit_event(container_id: &str, p: &Process) -> TaskExit {
    let mut ev = TaskExit::new();
    ev.container_id = container_id.to_string();
    ev.id = if p.exec_id.is_empty() {
        container_id.to_string()
    } else {
        p.exec_id.clone()
    };
    ev.pid = p.pid;
    ev.exit_status = p.exit_status();
    ev.exited_at = MessageField::some(timestamp(
        p.exit.map(|e| e.at).unwrap_or_else(SystemTime::now),
    ));
    ev
}
