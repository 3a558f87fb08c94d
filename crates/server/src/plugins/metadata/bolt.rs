//! `io.containerd.metadata.v1.bolt`: the metadata database (redb; the id is
//! containerd's so configs and tools match) and the namespaced stores over
//! it.

use std::sync::Arc;

use crated_metadata::{
    Containers, Db, Images, Leases, NamespacedContent, NamespacedSnapshots, Namespaces,
};

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::content::content::ContentBackend;
use crate::plugins::snapshotter::SnapshotterBackend;
use crate::plugins::{CONTENT, METADATA, SNAPSHOTTER};

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

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(METADATA, "bolt", &[CONTENT, SNAPSHOTTER], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
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
