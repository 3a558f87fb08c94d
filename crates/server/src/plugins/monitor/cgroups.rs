//! `io.containerd.monitor.v1.cgroups`: the task monitor. It gives the
//! `[metrics]` endpoint every running task's cgroup statistics, unless
//! `no_prometheus` is set.

use std::sync::Arc;

use crated_config::plugins::MonitorConfig;
use crated_runtime::ShimManager;

use crate::metrics::tasks::TaskCollector;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{MONITOR, RUNTIME};

/// What the plugin provides: the task collector, `None` with `no_prometheus`.
pub struct TaskMonitor {
    /// Collects the running tasks' statistics at scrape time.
    pub collector: Option<Arc<TaskCollector>>,
}

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(MONITOR, "cgroups", &[RUNTIME], init).with_config::<MonitorConfig>()
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let config: MonitorConfig = ctx.config()?;
    let manager: Arc<Arc<ShimManager>> = ctx.plugins.first(RUNTIME)?;
    let collector =
        (!config.no_prometheus).then(|| Arc::new(TaskCollector::new((*manager).clone())));
    Ok(Arc::new(TaskMonitor { collector }))
}
