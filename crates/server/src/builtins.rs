//! The built-in plugins, listed in one visible place.

use std::sync::Arc;

use crated_core::content::ContentStore;
use crated_core::snapshot::Snapshotter;
use crated_metadata::{
    Containers, Db, Images, Leases, NamespacedContent, NamespacedSnapshots, Namespaces,
};

use crate::exchange::Exchange;
use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::services::{self, GrpcService};

/// Plugin type of the event exchange.
pub const EVENT: &str = "io.containerd.event.v1";
/// Plugin type of content stores.
pub const CONTENT: &str = "io.containerd.content.v1";
/// Plugin type of the metadata store.
pub const METADATA: &str = "io.containerd.metadata.v1";
/// Plugin type of the lease manager.
pub const LEASE: &str = "io.containerd.lease.v1";
/// Plugin type of gRPC services.
pub const GRPC: &str = "io.containerd.grpc.v1";
/// Plugin type of snapshotters.
pub const SNAPSHOTTER: &str = "io.containerd.snapshotter.v1";
/// Plugin type of the garbage collection scheduler.
pub const GC: &str = "io.containerd.gc.v1";
/// Plugin type of differs.
pub const DIFFER: &str = "io.containerd.differ.v1";
/// Plugin type of the stream manager.
pub const STREAMING: &str = "io.containerd.streaming.v1";
/// Plugin type of the runtime v2 task manager.
pub const RUNTIME: &str = "io.containerd.runtime.v2";

/// A snapshotter backend a snapshotter plugin provides.
pub struct SnapshotterBackend(pub Arc<dyn Snapshotter>);

/// The content store backend a content plugin provides.
pub struct ContentBackend(pub Arc<dyn ContentStore>);

/// The metadata plugin's stores.
pub struct Metadata {
    /// The database.
    pub db: Db,
    /// Namespaced content.
    pub content: NamespacedContent,
    /// Namespaces.
    pub namespaces: Namespaces,
    /// Leases.
    pub leases: Leases,
    /// Images.
    pub images: Images,
    /// Containers.
    pub containers: Containers,
    /// Namespaced snapshots over every loaded snapshotter.
    pub snapshots: NamespacedSnapshots,
    /// Notifies the garbage collector of changes.
    pub gc: crate::gc::GcTrigger,
}

fn host_platform() -> String {
    crated_images::Platform::host().to_string()
}

fn init_exchange(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    Ok(Arc::new(Exchange::default()))
}

fn init_content(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let store = crated_content::LocalStore::open(ctx.root.clone())?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(ContentBackend(Arc::new(store))))
}

fn init_metadata(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let backend: Arc<ContentBackend> = ctx.plugins.first(CONTENT)?;
    let path = ctx.root.join("meta.db");
    let db = Db::open(&path)?;
    let backends = ctx
        .plugins
        .all::<SnapshotterBackend>(SNAPSHOTTER)
        .into_iter()
        .map(|(id, b)| (id, b.0.clone()))
        .collect();
    ctx.exports
        .insert("path".into(), path.display().to_string());
    Ok(Arc::new(Metadata {
        content: NamespacedContent::new(db.clone(), backend.0.clone()),
        namespaces: Namespaces::new(db.clone()),
        leases: Leases::new(db.clone()),
        images: Images::new(db.clone()),
        containers: Containers::new(db.clone()),
        snapshots: NamespacedSnapshots::new(db.clone(), backends),
        gc: crate::gc::GcTrigger::default(),
        db,
    }))
}

fn skip(e: crated_core::Error) -> InitError {
    InitError::Skip(format!("{}: skip plugin", e.message()))
}

fn platforms(ctx: &mut InitContext<'_>) {
    ctx.platforms.push(host_platform());
}

fn init_overlayfs(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let config: crated_snapshots::OverlayConfig = ctx.config()?;
    let root = config.root(&ctx.root);
    crated_snapshots::overlay::supported(&root).map_err(skip)?;
    let overlay = crated_snapshots::Overlay::new(&ctx.root, config)?;
    ctx.exports
        .insert("root".into(), root.display().to_string());
    ctx.capabilities.push("remap-ids".into());
    Ok(Arc::new(SnapshotterBackend(Arc::new(overlay))))
}

fn init_native(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let native = crated_snapshots::Native::new(&ctx.root)?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(SnapshotterBackend(Arc::new(native))))
}

fn init_btrfs(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    crated_snapshots::btrfs::supported(&ctx.root).map_err(skip)?;
    let btrfs = crated_snapshots::Btrfs::new(&ctx.root)?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(SnapshotterBackend(Arc::new(btrfs))))
}

/// The `[plugins."io.containerd.runtime.v2.task"]` section.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RuntimeConfig {
    /// Shim binary (path or name on PATH) per runtime name.
    runtime_paths: std::collections::HashMap<String, std::path::PathBuf>,
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

fn init_runtime(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
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

fn init_lease_manager(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    Ok(Arc::new(md.leases.clone()))
}

fn grpc(service: GrpcService) -> Result<Instance, InitError> {
    Ok(Arc::new(service))
}

fn init_version(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    grpc(services::version::service())
}

fn init_introspection(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let uuid = services::introspection::load_or_create_uuid(&ctx.root)?;
    grpc(services::introspection::service(
        ctx.introspection.clone(),
        uuid,
    ))
}

fn init_namespaces(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::namespaces::service(
        md.namespaces.clone(),
        (*events).clone(),
    ))
}

fn init_events(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::events::service((*events).clone()))
}

fn init_leases(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let leases: Arc<Leases> = ctx.plugins.first(LEASE)?;
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    grpc(services::leases::service((*leases).clone(), md.gc.clone()))
}

fn init_content_service(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::content::service(
        md.content.clone(),
        (*events).clone(),
        md.gc.clone(),
    ))
}

fn init_images(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::images::service(
        md.images.clone(),
        (*events).clone(),
        md.gc.clone(),
    ))
}

fn init_containers(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::containers::service(
        md.containers.clone(),
        (*events).clone(),
        md.gc.clone(),
    ))
}

fn init_snapshots(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::snapshots::service(
        md.snapshots.clone(),
        (*events).clone(),
        md.gc.clone(),
    ))
}

fn init_tasks(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let manager: Arc<Arc<crated_runtime::ShimManager>> = ctx.plugins.first(RUNTIME)?;
    grpc(services::tasks::service(
        (*manager).clone(),
        md.containers.clone(),
        md.content.clone(),
        Some(md.snapshots.clone()),
    ))
}

fn init_gc(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let config: crate::gc::SchedulerConfig = ctx.config()?;
    let targets = crate::gc::GcTargets {
        db: md.db.clone(),
        content: md.content.clone(),
        snapshots: md.snapshots.clone(),
    };
    crate::gc::start(config, targets, &md.gc)?;
    Ok(Arc::new(md.gc.clone()))
}

/// The `[plugins."io.containerd.differ.v1.walking"]` section.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct DifferConfig {
    /// Largest uncompressed layer accepted, in bytes (0: unbounded).
    max_layer_size: u64,
}

fn init_walking(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    platforms(ctx);
    let config: DifferConfig = ctx.config()?;
    let max_size = (config.max_layer_size > 0).then_some(config.max_layer_size);
    Ok(Arc::new(crated_diff::ApplyConfig { max_size }))
}

fn init_diff(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let config: Arc<crated_diff::ApplyConfig> = ctx.plugins.first(DIFFER)?;
    grpc(services::diff::service(
        md.content.clone(),
        (*config).clone(),
    ))
}

fn init_stream_manager(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    Ok(Arc::new(crate::streaming::StreamManager::default()))
}

fn init_streaming(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let manager: Arc<crate::streaming::StreamManager> = ctx.plugins.first(STREAMING)?;
    grpc(services::streaming::service((*manager).clone()))
}

fn init_transfer(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    let streams: Arc<crate::streaming::StreamManager> = ctx.plugins.first(STREAMING)?;
    let apply: Arc<crated_diff::ApplyConfig> = ctx.plugins.first(DIFFER)?;
    let snapshotters = md.snapshots.snapshotters();
    let default_snapshotter = if snapshotters.iter().any(|s| s == "overlayfs") {
        "overlayfs".to_string()
    } else {
        snapshotters.first().cloned().unwrap_or_default()
    };
    let transfer = crate::transfer::TransferContext {
        unpacker: crate::unpack::Unpacker {
            content: md.content.clone(),
            snapshots: md.snapshots.clone(),
            apply: (*apply).clone(),
        },
        images: md.images.clone(),
        leases: md.leases.clone(),
        streams: (*streams).clone(),
        events: (*events).clone(),
        gc: md.gc.clone(),
        default_snapshotter,
    };
    grpc(crate::transfer::service(transfer))
}

fn init_health(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    grpc(GrpcService::new(|routes, limits| {
        let (_, health) = tonic_health::server::health_reporter();
        crate::services::limited!(routes, limits, health)
    }))
}

const fn plugin(
    plugin_type: &'static str,
    id: &'static str,
    requires: &'static [&'static str],
    init: fn(&mut InitContext<'_>) -> Result<Instance, InitError>,
) -> Registration {
    Registration {
        plugin_type,
        id,
        requires,
        default_config: None,
        init,
    }
}

/// Every built-in plugin. The daemon initialises them in dependency order.
pub fn registrations() -> Vec<Registration> {
    vec![
        plugin(EVENT, "exchange", &[], init_exchange),
        plugin(CONTENT, "content", &[], init_content),
        plugin(SNAPSHOTTER, "btrfs", &[], init_btrfs),
        plugin(SNAPSHOTTER, "native", &[], init_native),
        plugin(SNAPSHOTTER, "overlayfs", &[], init_overlayfs),
        plugin(METADATA, "bolt", &[CONTENT, SNAPSHOTTER], init_metadata),
        Registration {
            plugin_type: RUNTIME,
            id: "task",
            requires: &[METADATA, EVENT],
            default_config: Some(default_runtime_config),
            init: init_runtime,
        },
        plugin(LEASE, "manager", &[METADATA], init_lease_manager),
        Registration {
            plugin_type: GC,
            id: "scheduler",
            requires: &[METADATA],
            default_config: Some(crate::gc::default_config),
            init: init_gc,
        },
        plugin(DIFFER, "walking", &[METADATA], init_walking),
        plugin(STREAMING, "manager", &[], init_stream_manager),
        plugin(GRPC, "version", &[], init_version),
        plugin(GRPC, "introspection", &[], init_introspection),
        plugin(GRPC, "namespaces", &[METADATA, EVENT], init_namespaces),
        plugin(GRPC, "events", &[EVENT], init_events),
        plugin(GRPC, "leases", &[LEASE], init_leases),
        plugin(GRPC, "content", &[METADATA, EVENT], init_content_service),
        plugin(GRPC, "images", &[METADATA, EVENT], init_images),
        plugin(GRPC, "containers", &[METADATA, EVENT], init_containers),
        plugin(GRPC, "snapshots", &[METADATA, EVENT], init_snapshots),
        plugin(GRPC, "tasks", &[RUNTIME, METADATA], init_tasks),
        plugin(GRPC, "diff", &[DIFFER, METADATA], init_diff),
        plugin(GRPC, "streaming", &[STREAMING], init_streaming),
        plugin(
            GRPC,
            "transfer",
            &[METADATA, EVENT, STREAMING, DIFFER],
            init_transfer,
        ),
        plugin(GRPC, "healthcheck", &[], init_health),
    ]
}

/// The platform string of this host, `linux/<arch>`.
pub fn platform() -> String {
    host_platform()
}
