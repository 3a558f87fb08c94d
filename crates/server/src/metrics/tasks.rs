//! Task metrics at scrape time: every running task's statistics, asked of
//! its shim (the Tasks.Metrics path), a bounded number of shims at once.

use std::sync::Arc;
use std::time::Duration;

use crated_api::ttrpc::api;
use crated_api::ttrpc::protobuf::Message;
use crated_api::ttrpc::{cgroups, cgroups_v2};
use crated_runtime::{Shim, ShimManager};
use futures::StreamExt;

use super::families::Families;
use super::{cgroups_v1, cgroups_v2 as v2};

/// Shims asked at once during a scrape.
const PARALLEL: usize = 32;
/// How long one shim may take to answer during a scrape; a slower task is
/// left out of that scrape (and logged).
const SHIM_BUDGET: Duration = Duration::from_secs(2);

/// A task's statistics, decoded.
#[derive(Debug)]
pub enum TaskStats {
    /// cgroup v1.
    V1(Box<cgroups::metrics::Metrics>),
    /// cgroup v2 (unified).
    V2(Box<cgroups_v2::metrics::Metrics>),
}

/// Decodes a shim's Stats answer by its type URL; `None` for a type that is
/// not a cgroup statistics message.
pub fn decode(type_url: &str, value: &[u8]) -> Result<Option<TaskStats>, String> {
    let name = type_url.rsplit('/').next().unwrap_or(type_url);
    let err = |e: crated_api::ttrpc::protobuf::Error| format!("decoding {name}: {e}");
    Ok(match name {
        "io.containerd.cgroups.v1.Metrics" => Some(TaskStats::V1(Box::new(
            cgroups::metrics::Metrics::parse_from_bytes(value).map_err(err)?,
        ))),
        "io.containerd.cgroups.v2.Metrics" => Some(TaskStats::V2(Box::new(
            cgroups_v2::metrics::Metrics::parse_from_bytes(value).map_err(err)?,
        ))),
        _ => None,
    })
}

/// Adds one task's samples to `out`.
pub fn add(out: &mut Families, id: &str, ns: &str, stats: &TaskStats) {
    match stats {
        TaskStats::V1(m) => cgroups_v1::add(out, id, ns, m),
        TaskStats::V2(m) => v2::add(out, id, ns, m),
    }
}

/// Collects from the task manager's shims (the cgroups monitor's side).
pub struct TaskCollector {
    manager: Arc<ShimManager>,
}

async fn stats_of(shim: Arc<Shim>) -> Option<(String, String, TaskStats)> {
    let (ns, id) = (shim.bundle.namespace.clone(), shim.bundle.id.clone());
    let mut req = api::StatsRequest::new();
    req.id = id.clone();
    let answer = match tokio::time::timeout(SHIM_BUDGET, shim.stats(&req)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::debug!(%ns, %id, error = %e, "task metrics: stats failed");
            return None;
        }
        Err(_) => {
            tracing::warn!(%ns, %id, budget = ?SHIM_BUDGET, "task metrics: shim too slow; left out of this scrape");
            return None;
        }
    };
    let any = answer.stats.as_ref()?;
    match decode(&any.type_url, &any.value) {
        Ok(stats) => stats.map(|s| (ns, id, s)),
        Err(e) => {
            tracing::warn!(%ns, %id, error = %e, "task metrics");
            None
        }
    }
}

impl TaskCollector {
    /// A collector over `manager`'s tasks.
    pub fn new(manager: Arc<ShimManager>) -> Self {
        TaskCollector { manager }
    }

    /// Every task's samples, sorted by namespace and id.
    pub async fn collect(&self, out: &mut Families) {
        let mut all: Vec<_> = futures::stream::iter(self.manager.all())
            .map(stats_of)
            .buffer_unordered(PARALLEL)
            .filter_map(|s| async move { s })
            .collect()
            .await;
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (ns, id, stats) in &all {
            add(out, id, ns, stats);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "tasks_tests.rs"]
mod tests;
