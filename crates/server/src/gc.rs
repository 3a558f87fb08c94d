//! The garbage collection scheduler (`io.containerd.gc.v1.scheduler`):
//! runs a collection after enough deletions or mutations, on request of a
//! synchronous delete, and once shortly after startup.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crated_config::plugins::GcConfig;
use crated_metadata::gc::{self, GcStats};
use crated_metadata::{Db, NamespacedContent, NamespacedSnapshots};
use tokio::sync::{mpsc, oneshot};

enum Message {
    Mutation { deletion: bool },
    Sync(oneshot::Sender<()>),
}

/// Tells the scheduler about changes; clones share one scheduler. Before a
/// scheduler is attached, notifications are dropped.
#[derive(Clone, Default)]
pub struct GcTrigger {
    sender: Arc<OnceLock<mpsc::UnboundedSender<Message>>>,
}

impl GcTrigger {
    /// A metadata change; `deletion` when something was removed.
    pub fn mutation(&self, deletion: bool) {
        if let Some(tx) = self.sender.get() {
            let _ = tx.send(Message::Mutation { deletion });
        }
    }

    /// Runs a collection now and waits for it (for `--sync` deletes).
    pub async fn sync(&self) {
        let Some(tx) = self.sender.get() else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Message::Sync(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// The stores a collection works on.
#[derive(Clone)]
pub struct GcTargets {
    /// The database.
    pub db: Db,
    /// Namespaced content.
    pub content: NamespacedContent,
    /// Namespaced snapshots.
    pub snapshots: NamespacedSnapshots,
}

async fn run_collection(targets: &GcTargets) -> Duration {
    let start = Instant::now();
    let t = targets.clone();
    let result = crate::blocking::run(move || gc::collect(&t.db, &t.content, &t.snapshots)).await;
    let took = start.elapsed();
    crate::metrics::own::gc_collected(took, result.as_ref().map_err(|_| ()));
    match result {
        Ok(GcStats {
            content,
            snapshots,
            leases,
        }) => {
            tracing::info!(content, snapshots, leases, ?took, "garbage collected");
        }
        Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
    }
    took
}

/// Starts the scheduler task and attaches `trigger` to it.
pub fn start(
    config: GcConfig,
    targets: GcTargets,
    trigger: &GcTrigger,
) -> Result<(), crated_core::Error> {
    let schedule_delay = config.schedule_delay.get();
    let startup_delay = config.startup_delay.get();
    let (tx, mut rx) = mpsc::unbounded_channel();
    if trigger.sender.set(tx).is_err() {
        return Err(crated_core::Error::failed_precondition(
            "a gc scheduler is already attached",
        ));
    }
    tokio::spawn(async move {
        let mut deletions = 0u64;
        let mut mutations = 0u64;
        let mut next_allowed = Instant::now();
        let mut due: Option<Instant> = Some(Instant::now() + startup_delay);
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let sleep_until = due.map(|d| d.max(next_allowed));
            let message = match sleep_until {
                Some(at) => tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep_until(at.into()) => {
                        let took = run_collection(&targets).await;
                        let pause = if config.pause_threshold > 0.0 { took.div_f64(config.pause_threshold) } else { Duration::ZERO };
                        next_allowed = Instant::now() + pause;
                        deletions = 0;
                        mutations = 0;
                        due = None;
                        for w in waiters.drain(..) {
                            let _ = w.send(());
                        }
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            let Some(message) = message else { break };
            match message {
                Message::Mutation { deletion } => {
                    mutations += 1;
                    if deletion {
                        deletions += 1;
                    }
                    let by_deletions = if config.deletion_threshold > 0 {
                        deletions >= config.deletion_threshold
                    } else {
                        deletions > 0
                    };
                    let by_mutations =
                        config.mutation_threshold > 0 && mutations >= config.mutation_threshold;
                    if (by_deletions || by_mutations) && due.is_none() {
                        due = Some(Instant::now() + schedule_delay);
                    }
                }
                Message::Sync(done) => {
                    waiters.push(done);
                    due = Some(Instant::now());
                    next_allowed = Instant::now();
                }
            }
        }
    });
    Ok(())
}
