//! crated's own metrics: content store size, snapshots by snapshotter and
//! kind, running shims (read at scrape time), and garbage collections
//! (recorded as they finish).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crated_core::content::ContentStore;
use crated_core::snapshot::Kind;
use crated_metadata::gc::GcStats;
use crated_metadata::{NamespacedSnapshots, Namespaces};
use crated_runtime::ShimManager;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use super::families::Families;

/// The garbage collector's counters; one set per process, as there is one
/// collector per daemon.
struct GcMetrics {
    runs: IntCounter,
    failures: IntCounter,
    duration: Histogram,
    removed: IntCounterVec,
}

static GC: LazyLock<Option<GcMetrics>> = LazyLock::new(|| {
    let made = (|| {
        Ok::<_, prometheus::Error>(GcMetrics {
            runs: IntCounter::new("crated_gc_runs_total", "Garbage collections run.")?,
            failures: IntCounter::new(
                "crated_gc_failures_total",
                "Garbage collections that failed.",
            )?,
            duration: Histogram::with_opts(HistogramOpts::new(
                "crated_gc_duration_seconds",
                "How long each garbage collection took.",
            ))?,
            removed: IntCounterVec::new(
                Opts::new(
                    "crated_gc_removed_total",
                    "Objects garbage collection removed, by kind (content, snapshots, leases).",
                ),
                &["kind"],
            )?,
        })
    })();
    made.inspect_err(|e| tracing::warn!(error = %e, "gc metrics unavailable"))
        .ok()
});

/// Records a finished garbage collection.
pub fn gc_collected(took: Duration, result: Result<&GcStats, ()>) {
    let Some(m) = GC.as_ref() else { return };
    m.runs.inc();
    m.duration.observe(took.as_secs_f64());
    match result {
        Ok(stats) => {
            for (kind, n) in [
                ("content", stats.content),
                ("snapshots", stats.snapshots),
                ("leases", stats.leases),
            ] {
                m.removed.with_label_values(&[kind]).inc_by(n as u64);
            }
        }
        Err(()) => m.failures.inc(),
    }
}

/// Registers the garbage collection counters and the process metrics
/// (`process_*`, as Go's client names them) in `registry`.
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    if let Some(m) = GC.as_ref() {
        registry.register(Box::new(m.runs.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.removed.clone()))?;
    }
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))
}

/// The stores crated's own scrape-time metrics read.
#[derive(Clone, Default)]
pub struct Stores {
    /// The task manager (running shims).
    pub shims: Option<Arc<ShimManager>>,
    /// The content store.
    pub content: Option<Arc<dyn ContentStore>>,
    /// Namespaces and snapshots of the metadata store.
    pub snapshots: Option<(Namespaces, NamespacedSnapshots)>,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::View => "view",
        Kind::Active => "active",
        Kind::Committed => "committed",
        Kind::Unknown => "unknown",
    }
}

impl Stores {
    /// Adds the store metrics to `out`. Synchronous (it reads the stores):
    /// call it on the blocking pool.
    pub fn collect(&self, out: &mut Families) {
        if let Some(shims) = &self.shims {
            out.gauge(
                "crated_shims_running",
                "Shims the daemon is connected to (one per task).",
                &[],
                shims.all().len() as f64,
            );
        }
        if let Some(content) = &self.content {
            match content.list() {
                Ok(blobs) => {
                    let bytes: i64 = blobs.iter().map(|b| b.size.max(0)).sum();
                    out.gauge(
                        "crated_content_blobs",
                        "Blobs in the content store.",
                        &[],
                        blobs.len() as f64,
                    );
                    out.gauge(
                        "crated_content_bytes",
                        "Bytes of the blobs in the content store.",
                        &[],
                        bytes as f64,
                    );
                }
                Err(e) => tracing::warn!(error = %e, "metrics: listing the content store"),
            }
        }
        if let Some((namespaces, snapshots)) = &self.snapshots {
            self.collect_snapshots(namespaces, snapshots, out);
        }
    }

    fn collect_snapshots(
        &self,
        namespaces: &Namespaces,
        snapshots: &NamespacedSnapshots,
        out: &mut Families,
    ) {
        let namespaces = match namespaces.list() {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: listing namespaces");
                return;
            }
        };
        for sn in snapshots.snapshotters() {
            let mut counts = [0u64; 4];
            for ns in &namespaces {
                match snapshots.list(&ns.name, &sn) {
                    Ok(infos) => {
                        for info in infos {
                            counts[info.kind as usize] += 1;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(ns = %ns.name, %sn, error = %e, "metrics: listing snapshots")
                    }
                }
            }
            for kind in [Kind::View, Kind::Active, Kind::Committed] {
                out.gauge(
                    "crated_snapshots",
                    "Snapshots by snapshotter and kind, in all namespaces.",
                    &[("snapshotter", &sn), ("kind", kind_name(kind))],
                    counts[kind as usize] as f64,
                );
            }
        }
    }
}
