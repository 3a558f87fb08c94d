//! Container and pod statistics from the tasks' cgroup metrics, as
//! containerd's CRI reports them: CPU time and the rate since the last
//! sample of the same container, memory usage, working set (usage less
//! inactive file pages), RSS and page faults, for cgroup v1 and v2. A
//! pod's figures are the sums over its running containers.

use std::collections::HashMap;

use crated_api::cri::{self, UInt64Value};
use crated_client::tasks::{CgroupMetrics, Metric};

use crate::container::record::config_from_json;
use crate::container::store::{Entry, now_nanos};
use crate::service::CriService;
use crate::store::filters::labels_match;
use crate::{Error, Result};

/// The figures the CRI wants from one cgroup.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Figures {
    cpu_ns: u64,
    usage: u64,
    working_set: u64,
    rss: u64,
    page_faults: u64,
    major_page_faults: u64,
    limit: u64,
}

impl Figures {
    fn from_metrics(m: &CgroupMetrics) -> Figures {
        match m {
            CgroupMetrics::V1(m) => {
                let mem = m.memory.as_ref();
                let usage = mem.and_then(|x| x.usage.as_ref()).map_or(0, |u| u.usage);
                let inactive = mem.map_or(0, |x| x.total_inactive_file);
                Figures {
                    cpu_ns: m
                        .cpu
                        .as_ref()
                        .and_then(|c| c.usage.as_ref())
                        .map_or(0, |u| u.total),
                    usage,
                    working_set: usage.saturating_sub(inactive),
                    rss: mem.map_or(0, |x| x.total_rss),
                    page_faults: mem.map_or(0, |x| x.total_pg_fault),
                    major_page_faults: mem.map_or(0, |x| x.total_pg_maj_fault),
                    limit: mem.and_then(|x| x.usage.as_ref()).map_or(0, |u| u.limit),
                }
            }
            CgroupMetrics::V2(m) => {
                let mem = m.memory.as_ref();
                let usage = mem.map_or(0, |x| x.usage);
                Figures {
                    cpu_ns: m
                        .cpu
                        .as_ref()
                        .map_or(0, |c| c.usage_usec.saturating_mul(1000)),
                    usage,
                    working_set: usage.saturating_sub(mem.map_or(0, |x| x.inactive_file)),
                    rss: mem.map_or(0, |x| x.anon),
                    page_faults: mem.map_or(0, |x| x.pgfault),
                    major_page_faults: mem.map_or(0, |x| x.pgmajfault),
                    limit: mem.map_or(0, |x| x.usage_limit),
                }
            }
        }
    }

    fn add(&mut self, o: &Figures) {
        self.cpu_ns += o.cpu_ns;
        self.usage += o.usage;
        self.working_set += o.working_set;
        self.rss += o.rss;
        self.page_faults += o.page_faults;
        self.major_page_faults += o.major_page_faults;
    }
}

fn value(v: u64) -> Option<UInt64Value> {
    Some(UInt64Value { value: v })
}

/// No limit: cgroup v1 reports a huge number, v2 `max` as u64::MAX.
const NO_LIMIT: u64 = 1 << 62;

fn usage(f: &Figures, at: i64, nano_cores: Option<u64>) -> (cri::CpuUsage, cri::MemoryUsage) {
    let available =
        (f.limit != 0 && f.limit < NO_LIMIT).then(|| f.limit.saturating_sub(f.working_set));
    (
        cri::CpuUsage {
            timestamp: at,
            usage_core_nano_seconds: value(f.cpu_ns),
            usage_nano_cores: nano_cores.and_then(value),
        },
        cri::MemoryUsage {
            timestamp: at,
            working_set_bytes: value(f.working_set),
            available_bytes: available.and_then(value),
            usage_bytes: value(f.usage),
            rss_bytes: value(f.rss),
            page_faults: value(f.page_faults),
            major_page_faults: value(f.major_page_faults),
        },
    )
}

impl CriService {
    /// The figures of the running containers `ids`, by id.
    async fn figures(&self, ids: &[String]) -> Result<HashMap<String, (Figures, i64)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let filters: Vec<String> = ids.iter().map(|id| format!("id=={id}")).collect();
        let metrics: Vec<Metric> = self
            .client()
            .await?
            .tasks()
            .metrics(&filters)
            .await
            .map_err(Error::client("reading the tasks' cgroup metrics"))?;
        let mut out = HashMap::new();
        for metric in metrics {
            match metric.decode() {
                Ok(decoded) => {
                    let at = metric
                        .timestamp
                        .and_then(|t| t.timestamp_nanos_opt())
                        .unwrap_or_else(now_nanos);
                    out.insert(metric.id.clone(), (Figures::from_metrics(&decoded), at));
                }
                Err(e) => tracing::debug!(id = %metric.id, error = %e, "metrics not usable"),
            }
        }
        Ok(out)
    }

    /// The CPU rate of `key` since its last sample (none the first time).
    fn nano_cores(&self, key: &str, cpu_ns: u64, at: i64) -> Option<u64> {
        let mut samples = self.inner.cpu_samples.lock().ok()?;
        let previous = samples.insert(key.to_string(), (cpu_ns, at));
        let (prev_ns, prev_at) = previous?;
        let elapsed = u64::try_from(at.checked_sub(prev_at)?)
            .ok()
            .filter(|e| *e > 0)?;
        let used = cpu_ns.checked_sub(prev_ns)?;
        u64::try_from(u128::from(used) * 1_000_000_000 / u128::from(elapsed)).ok()
    }

    fn stats_of(&self, entry: &Entry, figures: Option<&(Figures, i64)>) -> cri::ContainerStats {
        let config = config_from_json(&entry.meta.config);
        let mut stats = cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: entry.meta.id.clone(),
                metadata: config.metadata,
                labels: config.labels,
                annotations: config.annotations,
            }),
            ..cri::ContainerStats::default()
        };
        if let Some((f, at)) = figures {
            let (cpu, memory) = usage(f, *at, self.nano_cores(&entry.meta.id, f.cpu_ns, *at));
            stats.cpu = Some(cpu);
            stats.memory = Some(memory);
        }
        stats
    }

    /// `ContainerStats`.
    pub(crate) async fn container_stats(
        &self,
        req: cri::ContainerStatsRequest,
    ) -> Result<cri::ContainerStatsResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let figures = self.figures(std::slice::from_ref(&entry.meta.id)).await?;
        Ok(cri::ContainerStatsResponse {
            stats: Some(self.stats_of(&entry, figures.get(&entry.meta.id))),
        })
    }

    /// `ListContainerStats`: the running containers that pass the filter.
    pub(crate) async fn list_container_stats(
        &self,
        req: cri::ListContainerStatsRequest,
    ) -> Result<cri::ListContainerStatsResponse> {
        let filter = req.filter.unwrap_or_default();
        let sandbox = (!filter.pod_sandbox_id.is_empty()).then(|| {
            self.inner
                .sandboxes
                .resolve(&filter.pod_sandbox_id)
                .unwrap_or(filter.pod_sandbox_id.clone())
        });
        let entries: Vec<_> = self
            .inner
            .containers
            .list()
            .into_iter()
            .filter(|e| e.status().state() == cri::ContainerState::ContainerRunning)
            .filter(|e| filter.id.is_empty() || e.meta.id.starts_with(&filter.id))
            .filter(|e| sandbox.as_deref().is_none_or(|s| s == e.meta.sandbox_id))
            .filter(|e| {
                labels_match(
                    &filter.label_selector,
                    &config_from_json(&e.meta.config).labels,
                )
            })
            .collect();
        let ids: Vec<String> = entries.iter().map(|e| e.meta.id.clone()).collect();
        let figures = self.figures(&ids).await?;
        Ok(cri::ListContainerStatsResponse {
            stats: entries
                .iter()
                .map(|e| self.stats_of(e, figures.get(&e.meta.id)))
                .collect(),
        })
    }

    /// The stats of pod `id`: its running containers, and their sums.
    async fn pod_stats(&self, sandbox: &crate::sandbox::Sandbox) -> Result<cri::PodSandboxStats> {
        let entries: Vec<_> = self
            .inner
            .containers
            .in_sandbox(&sandbox.meta.id)
            .into_iter()
            .filter(|e| e.status().state() == cri::ContainerState::ContainerRunning)
            .collect();
        let mut ids: Vec<String> = entries.iter().map(|e| e.meta.id.clone()).collect();
        ids.push(sandbox.meta.id.clone());
        let figures = self.figures(&ids).await?;
        let mut total = Figures::default();
        for (f, _) in figures.values() {
            total.add(f);
        }
        let at = now_nanos();
        let key = format!("pod:{}", sandbox.meta.id);
        let (cpu, memory) = usage(&total, at, self.nano_cores(&key, total.cpu_ns, at));
        Ok(cri::PodSandboxStats {
            attributes: Some(cri::PodSandboxAttributes {
                id: sandbox.meta.id.clone(),
                metadata: sandbox.meta.config.metadata.clone(),
                labels: sandbox.meta.config.labels.clone(),
                annotations: sandbox.meta.config.annotations.clone(),
            }),
            linux: Some(cri::LinuxPodSandboxStats {
                cpu: Some(cpu),
                memory: Some(memory),
                containers: entries
                    .iter()
                    .map(|e| self.stats_of(e, figures.get(&e.meta.id)))
                    .collect(),
                ..cri::LinuxPodSandboxStats::default()
            }),
            windows: None,
        })
    }

    /// `PodSandboxStats`.
    pub(crate) async fn pod_sandbox_stats(
        &self,
        req: cri::PodSandboxStatsRequest,
    ) -> Result<cri::PodSandboxStatsResponse> {
        let sandbox = self.inner.sandboxes.get(&req.pod_sandbox_id)?;
        Ok(cri::PodSandboxStatsResponse {
            stats: Some(self.pod_stats(&sandbox).await?),
        })
    }

    /// `ListPodSandboxStats`: the ready pods that pass the filter.
    pub(crate) async fn list_pod_sandbox_stats(
        &self,
        req: cri::ListPodSandboxStatsRequest,
    ) -> Result<cri::ListPodSandboxStatsResponse> {
        let filter = req.filter.unwrap_or_default();
        let mut stats = Vec::new();
        for sandbox in self.inner.sandboxes.list() {
            if sandbox.status().ready
                && (filter.id.is_empty() || sandbox.meta.id.starts_with(&filter.id))
                && labels_match(&filter.label_selector, &sandbox.meta.config.labels)
            {
                stats.push(self.pod_stats(&sandbox).await?);
            }
        }
        Ok(cri::ListPodSandboxStatsResponse { stats })
    }

    /// `ListMetricDescriptors`.
    pub(crate) async fn list_metric_descriptors(
        &self,
        _req: cri::ListMetricDescriptorsRequest,
    ) -> Result<cri::ListMetricDescriptorsResponse> {
        Err(Error::Unimplemented {
            what: "ListMetricDescriptors",
        })
    }

    /// `ListPodSandboxMetrics`.
    pub(crate) async fn list_pod_sandbox_metrics(
        &self,
        _req: cri::ListPodSandboxMetricsRequest,
    ) -> Result<cri::ListPodSandboxMetricsResponse> {
        Err(Error::Unimplemented {
            what: "ListPodSandboxMetrics",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_api::ttrpc::cgroups_v2::metrics as v2;

    #[test]
    fn v2_figures_take_the_working_set_without_inactive_file_pages() {
        let mut m = v2::Metrics::new();
        let mut cpu = v2::CPUStat::new();
        cpu.usage_usec = 1_500;
        m.cpu = Some(cpu).into();
        let mut mem = v2::MemoryStat::new();
        mem.usage = 10_000;
        mem.inactive_file = 4_000;
        mem.anon = 3_000;
        mem.usage_limit = 16_000;
        m.memory = Some(mem).into();
        let f = Figures::from_metrics(&CgroupMetrics::V2(m));
        assert_eq!((f.cpu_ns, f.working_set, f.rss), (1_500_000, 6_000, 3_000));
        let (_, memory) = usage(&f, 1, None);
        assert_eq!(memory.available_bytes.map(|v| v.value), Some(10_000));
        let unlimited = Figures {
            limit: u64::MAX,
            ..f
        };
        assert_eq!(usage(&unlimited, 1, None).1.available_bytes, None);
    }
}
