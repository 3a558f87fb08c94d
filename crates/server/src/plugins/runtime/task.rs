//! `io.containerd.runtime.v2.task`: the runtime v2 shim manager, which
//! reconnects to running shims at startup.

use std::sync::Arc;

use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::{EVENT, METADATA, RUNTIME, platforms};

/// The `[plugins."io.containerd.runtime.v2.task"]` section.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RuntimeConfig {
    /// Shim binary (path or name on PATH) per runtime name.
    runtime_paths: std::collections::HashMap<String, std::path::PathBuf>,
}

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(RUNTIME, "task", &[METADATA, EVENT], init)
        .with_default_config(default_runtime_config)
}

fn default_runtime_config() -> toml::Value {
    let mut paths = toml::map::Map::new();
    for name in ["io.containerd.runc.v2", "io.containerd.crated.v1"] {
        paths.insert(
            name.into(),
            toml::Value::String("containerd-shim-crated-v1".into()),
        );
    }
    let mut table = toml::map::Map::new();
    table.insert("runtime_paths".into(), toml::Value::Table(paths));
    toml::Value::Table(table)
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
    let config: RuntimeConfig = match &ctx.config {
        Some(_) => ctx.config()?,
        None => default_runtime_config().try_into().map_err(|e| {
            InitError::Failed(crated_core::Error::internal(format!(
                "default runtime config: {e}"
            )))
        })?,
    };
    let publish_binary = std::env::current_exe()
        .map_err(|e| crated_core::Error::internal(format!("finding crated's own binary: {e}")))?;
    let manager = crated_runtime::ShimManager::new(crated_runtime::ManagerConfig {
        root: ctx.root.clone(),
        state: ctx.state.clone(),
        daemon: crated_runtime::binary::DaemonAddresses {
            grpc: ctx.daemon.grpc_address.clone(),
            ttrpc: ctx.daemon.ttrpc_address.clone(),
            publish_binary,
            debug: ctx.daemon.debug,
        },
        runtime_paths: resolve_runtime_paths(config.runtime_paths),
    });
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    let dead = tokio::runtime::Handle::try_current()
        .map_err(|e| {
            crated_core::Error::internal(format!("no async runtime for shim recovery: {e}"))
        })?
        .block_on(manager.recover());
    for task in dead {
        crate::services::task_events::publish_dead(&events, &task);
    }
    Ok(Arc::new(Arc::new(manager)))
}
