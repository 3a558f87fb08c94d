//! `io.containerd.runtime.v2.task`: the runtime v2 shim manager, which
//! reconnects to running shims at startup.

use std::sync::Arc;

use crated_config::plugins::RuntimeConfig;

use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{EVENT, METADATA, RUNTIME, platforms};

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(RUNTIME, "task", &[METADATA, EVENT], init).with_config::<RuntimeConfig>()
}

/// The shim timeouts `[timeouts]` sets (containerd's
/// `io.containerd.timeout.shim.{load,shutdown,cleanup}`), crated's defaults
/// for the others.
pub fn shim_timeouts(
    config: &crated_config::Config,
) -> Result<crated_runtime::ShimTimeouts, crated_config::ConfigError> {
    let defaults = crated_runtime::ShimTimeouts::default();
    Ok(crated_runtime::ShimTimeouts {
        load: config
            .timeout(crated_config::TIMEOUT_SHIM_LOAD)?
            .unwrap_or(defaults.load),
        shutdown: config
            .timeout(crated_config::TIMEOUT_SHIM_SHUTDOWN)?
            .unwrap_or(defaults.shutdown),
        cleanup: config
            .timeout(crated_config::TIMEOUT_SHIM_CLEANUP)?
            .unwrap_or(defaults.cleanup),
    })
}

/// Resolves a configured shim binary: a path is used as is, a bare name is
/// looked up next to crated and on PATH; one that cannot be found is
/// dropped (with a warning) so the runtime name resolves as containerd does.
fn resolve_runtime_paths(
    configured: std::collections::HashMap<String, std::path::PathBuf>,
) -> std::collections::HashMap<String, std::path::PathBuf> {
    let mut out = std::collections::HashMap::new();
    for (runtime, binary) in configured {
        if binary.components().count() > 1 {
            out.insert(runtime, binary);
            continue;
        }
        let name = binary.to_string_lossy().into_owned();
        let mut dirs: Vec<std::path::PathBuf> = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .into_iter()
            .collect();
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        match dirs
            .into_iter()
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
        {
            Some(found) => {
                out.insert(runtime, found);
            }
            None => {
                tracing::warn!(%runtime, binary = %name, "configured shim binary not found; using the runtime name's default")
            }
        }
    }
    out
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let config: RuntimeConfig = ctx.config()?;
    let publish_binary = std::env::current_exe().map_err(|e| {
        crated_core::Error::with_source(
            crated_core::ErrorKind::Internal,
            "finding crated's own binary",
            e,
        )
    })?;
    let manager = Arc::new(crated_runtime::ShimManager::new(
        crated_runtime::ManagerConfig {
            root: ctx.root.clone(),
            state: ctx.state.clone(),
            daemon: crated_runtime::binary::DaemonAddresses {
                grpc: ctx.daemon.grpc_address.clone(),
                ttrpc: ctx.daemon.ttrpc_address.clone(),
                publish_binary,
                debug: ctx.daemon.debug,
            },
            runtime_paths: resolve_runtime_paths(config.runtime_paths.into_iter().collect()),
            timeouts: ctx.daemon.shim_timeouts,
        },
    ));
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    let exchange = events.clone();
    manager.on_dead(move |task| crate::services::task_events::publish_dead(&exchange, &task));
    let recovery = tokio::runtime::Handle::try_current()
        .map_err(|e| {
            crated_core::Error::with_source(
                crated_core::ErrorKind::Internal,
                "no async runtime for shim recovery",
                e,
            )
        })?
        .block_on(manager.recover());
    crate::services::task_events::publish_recovered(&events, recovery);
    Ok(Arc::new(manager))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timeouts_come_from_the_config() {
        let config = crated_config::Config::from_toml_str(
            "[timeouts]\n\"io.containerd.timeout.shim.load\" = \"1m30s\"\n\"io.containerd.timeout.shim.shutdown\" = \"500ms\"\n",
        )
        .unwrap();
        let t = shim_timeouts(&config).unwrap();
        assert_eq!(t.load, Duration::from_secs(90));
        assert_eq!(t.shutdown, Duration::from_millis(500));
        assert_eq!(t.cleanup, crated_runtime::ShimTimeouts::default().cleanup);
    }
}
