//! The built-in plugins, listed in one visible place.

use std::sync::Arc;

use crated_core::content::ContentStore;
use crated_metadata::{Containers, Db, Images, Leases, NamespacedContent, Namespaces};

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
}

fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
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
    ctx.exports
        .insert("path".into(), path.display().to_string());
    Ok(Arc::new(Metadata {
        content: NamespacedContent::new(db.clone(), backend.0.clone()),
        namespaces: Namespaces::new(db.clone()),
        leases: Leases::new(db.clone()),
        images: Images::new(db.clone()),
        containers: Containers::new(db.clone()),
        db,
    }))
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
    grpc(services::leases::service((*leases).clone()))
}

fn init_content_service(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::content::service(
        md.content.clone(),
        (*events).clone(),
    ))
}

fn init_images(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::images::service(
        md.images.clone(),
        (*events).clone(),
    ))
}

fn init_containers(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let md: Arc<Metadata> = ctx.plugins.first(METADATA)?;
    let events: Arc<Exchange> = ctx.plugins.first(EVENT)?;
    grpc(services::containers::service(
        md.containers.clone(),
        (*events).clone(),
    ))
}

fn init_health(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
    grpc(GrpcService::new(|routes| {
        let (_, health) = tonic_health::server::health_reporter();
        routes.add_service(health)
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
        plugin(METADATA, "bolt", &[CONTENT], init_metadata),
        plugin(LEASE, "manager", &[METADATA], init_lease_manager),
        plugin(GRPC, "version", &[], init_version),
        plugin(GRPC, "introspection", &[], init_introspection),
        plugin(GRPC, "namespaces", &[METADATA, EVENT], init_namespaces),
        plugin(GRPC, "events", &[EVENT], init_events),
        plugin(GRPC, "leases", &[LEASE], init_leases),
        plugin(GRPC, "content", &[METADATA, EVENT], init_content_service),
        plugin(GRPC, "images", &[METADATA, EVENT], init_images),
        plugin(GRPC, "containers", &[METADATA, EVENT], init_containers),
        plugin(GRPC, "healthcheck", &[], init_health),
    ]
}

/// The platform string of this host, `linux/<arch>`.
pub fn platform() -> String {
    host_platform()
}
