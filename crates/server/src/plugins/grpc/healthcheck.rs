//! `io.containerd.grpc.v1.healthcheck`: gRPC health checking. The overall
//! status (service `""`) is NOT_SERVING when a gRPC service plugin that is
//! not disabled failed or was skipped, so a broken daemon does not look
//! healthy. It is initialised after every other plugin (last in the list).

use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use super::grpc;
use crate::plugin::{InitContext, InitError, Instance, Outcome, PluginSet, Registration};
use crate::plugins::GRPC;
use crate::services::GrpcService;

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(GRPC, "healthcheck", &[], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let reporter = reporter_for(ctx.plugins);
    grpc(GrpcService::new(move |routes, limits| {
        let health = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        crate::services::limited!(routes, limits, health)
    }))
}

/// The gRPC service plugins in `plugins` that did not load, as
/// `<type>.<id>: <why>`.
pub fn down_services(plugins: &PluginSet) -> Vec<String> {
    plugins
        .entries()
        .iter()
        .filter(|e| e.plugin_type == GRPC)
        .filter_map(|e| {
            let why = match &e.outcome {
                Outcome::Loaded(_) => return None,
                Outcome::Skipped(reason) => format!("skipped: {reason}"),
                Outcome::Failed(error) => format!("failed: {error}"),
            };
            Some(format!("{}.{}: {why}", e.plugin_type, e.id))
        })
        .collect()
}

/// A reporter whose overall status reflects [`down_services`].
fn reporter_for(plugins: &PluginSet) -> HealthReporter {
    let reporter = HealthReporter::new();
    let down = down_services(plugins);
    if !down.is_empty() {
        tracing::error!(
            services = %down.join("; "),
            "gRPC health reports NOT_SERVING: required services are down"
        );
        futures::executor::block_on(reporter.set_service_status("", ServingStatus::NotServing));
    }
    reporter
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::health_server::Health;

    use super::*;
    use crate::plugin::{InitSettings, init_all};

    fn ok(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
        Ok(Arc::new(1u32))
    }
    fn fail(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
        Err(InitError::Failed(crated_core::Error::internal("no store")))
    }

    async fn overall(regs: &[Registration]) -> i32 {
        let none = |_: &str, _: &str| None;
        let settings = InitSettings {
            root: "/nonexistent/root".into(),
            state: "/nonexistent/state".into(),
            disabled: &[],
            config: &none,
            introspection: Default::default(),
            daemon: Default::default(),
        };
        let set = init_all(regs, &settings).unwrap();
        let service = HealthService::from_health_reporter(reporter_for(&set));
        let request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        service.check(request).await.unwrap().into_inner().status
    }

    #[tokio::test]
    async fn a_failed_service_makes_the_daemon_not_serving() {
        let healthy = [
            Registration::new(GRPC, "a", &[], ok),
            Registration::new("io.containerd.snapshotter.v1", "s", &[], fail),
        ];
        assert_eq!(overall(&healthy).await, Wire::Serving as i32);
        let broken = [
            Registration::new(GRPC, "a", &[], ok),
            Registration::new(GRPC, "b", &[], fail),
        ];
        assert_eq!(overall(&broken).await, Wire::NotServing as i32);
    }

    #[test]
    fn healthcheck_is_initialised_last() {
        let regs = crate::plugins::registrations();
        let order = crate::plugin::order(&regs).unwrap();
        let last = order.last().unwrap();
        assert_eq!(last.uri(), "io.containerd.grpc.v1.healthcheck");
    }
}
