//! The Prometheus endpoint (`[metrics] address`): `GET /v1/metrics` in the
//! text exposition format, with the task metrics of the cgroups monitor,
//! the gRPC server metrics, and crated's own (stores, shims, garbage
//! collection, the process).

mod cgroups_v1;
mod cgroups_v2;
pub mod families;
pub mod grpc;
pub mod http;
pub mod own;
pub mod tasks;

use std::sync::Arc;

use prometheus::{Encoder, Registry, TextEncoder};

pub use http::{bind, serve};

/// Where the scrape-time metrics come from.
#[derive(Default)]
pub struct Sources {
    /// The cgroups monitor's task collector (`None`: no task metrics).
    pub tasks: Option<Arc<tasks::TaskCollector>>,
    /// The stores crated's own metrics read.
    pub stores: own::Stores,
}

/// What one scrape renders.
pub struct Endpoint {
    registry: Registry,
    sources: Sources,
}

impl Endpoint {
    /// The endpoint and the gRPC layer that feeds it; the gRPC handling-time
    /// histogram only with `grpc_histogram`.
    pub fn new(
        grpc_histogram: bool,
        sources: Sources,
    ) -> prometheus::Result<(Arc<Self>, grpc::GrpcMetricsLayer)> {
        let registry = Registry::new();
        let grpc = Arc::new(grpc::GrpcMetrics::new(&registry, grpc_histogram)?);
        own::register(&registry)?;
        Ok((
            Arc::new(Endpoint { registry, sources }),
            grpc::GrpcMetricsLayer::new(grpc),
        ))
    }

    /// Collects everything and renders it in the text format.
    pub async fn render(&self) -> crated_core::Result<Vec<u8>> {
        let mut scraped = families::Families::default();
        if let Some(tasks) = &self.sources.tasks {
            tasks.collect(&mut scraped).await;
        }
        let stores = self.sources.stores.clone();
        let scraped = crate::blocking::run(move || {
            stores.collect(&mut scraped);
            Ok(scraped)
        })
        .await?;
        let mut all = self.registry.gather();
        all.extend(scraped.into_vec());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&all, &mut out).map_err(|e| {
            crated_core::Error::with_source(
                crated_core::ErrorKind::Internal,
                "encoding the metrics in the text format",
                e,
            )
        })?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testing {
    //! Reading an exposition back with a real text-format parser.

    /// The value of the first sample `name` carrying all of `labels`.
    pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    }

    /// The `# TYPE` of family `name`.
    pub fn type_of(text: &str, name: &str) -> Option<String> {
        let prefix = format!("# TYPE {name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }

    #[tokio::test]
    async fn an_empty_daemon_renders_process_and_gc_metrics() {
        let (endpoint, _layer) = super::Endpoint::new(false, super::Sources::default()).unwrap();
        super::own::gc_collected(
            std::time::Duration::from_millis(3),
            Ok(&crated_metadata::gc::GcStats {
                content: 2,
                snapshots: 1,
                leases: 0,
            }),
        );
        let text = String::from_utf8(endpoint.render().await.unwrap()).unwrap();
        let rss = sample(&text, "process_resident_memory_bytes", &[]).unwrap();
        assert!(rss > 0.0, "{text}");
        assert!(
            sample(&text, "process_open_fds", &[]).unwrap() > 0.0,
            "{text}"
        );
        assert!(
            sample(&text, "crated_gc_runs_total", &[]).unwrap() >= 1.0,
            "{text}"
        );
        assert!(
            sample(&text, "crated_gc_removed_total", &[("kind", "content")]).unwrap() >= 2.0,
            "{text}"
        );
        assert_eq!(
            type_of(&text, "crated_gc_duration_seconds").as_deref(),
            Some("histogram")
        );
        // No task sources: no task metrics, and the gRPC families appear
        // only once a call was counted.
        assert!(!text.contains("container_"), "{text}");
    }
}
