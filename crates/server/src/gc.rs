//! The garbage collection scheduler (`io.containerd.gc.v1.scheduler`):
//! runs a collection after enough deletions or mutations, on request of a
//! synchronous delete, and once shortly after startup.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crated_metadata::gc::{self, GcStats};
use crated_metadata::{Db, NamespacedContent, NamespacedSnapshots};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

/// The scheduler's config, with containerd's keys and defaults.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// Largest fraction of time spent collecting (spaces collections out).
    pub pause_threshold: f64,
    /// Deletions that trigger a collection (0: any deletion does).
    pub deletion_threshold: u64,
    /// Mutations that trigger a collection (0: never by count).
    pub mutation_threshold: u64,
    /// Delay between a trigger and the collection, e.g. `0ms`.
    pub schedule_delay: String,
    /// Delay before the first collection after startup, e.g. `100ms`.
    pub startup_delay: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            pause_threshold: 0.02,
            deletion_threshold: 0,
            mutation_threshold: 100,
            schedule_delay: "0ms".into(),
            startup_delay: "100ms".into(),
        }
    }
}

/// The default config as a TOML table, for `crated config default`.
pub fn default_config() -> toml::Value {
    toml::Value::try_from(SchedulerConfig::default())
        .unwrap_or(toml::Value::Table(Default::default()))
}

/// Parses a Go-style duration such as `100ms`, `1s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, crated_core::Error> {
    let bad = || {
        crated_core::Error::invalid_argument(format!(
            "invalid duration {text:?} (use e.g. 100ms, 1s, 2m)"
        ))
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(seconds))
}

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
    let result =
        tokio::task::spawn_blocking(move || gc::collect(&t.db, &t.content, &t.snapshots)).await;
    let took = start.elapsed();
    match result {
        Ok(Ok(GcStats {
            content,
            snapshots,
            leases,
        })) => {
            tracing::info!(content, snapshots, leases, ?took, "garbage collected");
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
        Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
    }
    took
}

/// Starts the scheduler task and attaches `trigger` to it.
pub fn start(
    config: SchedulerConfig,
    targets: GcTargets,
    trigger: &GcTrigger,
) -> Result<(), crated_core::Error> {
    let schedule_delay = parse_duration(&config.schedule_delay)?;
    let startup_delay = parse_duration(&config.startup_delay)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn default_config_has_containerd_keys() {
        let v = default_config();
        let t = v.as_table().unwrap();
        for key in [
            "pause_threshold",
            "deletion_threshold",
            "mutation_threshold",
            "schedule_delay",
            "startup_delay",
        ] {
            assert!(t.contains_key(key), "{key}");
        }
    }
}
