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

/// The magic number in a bbolt meta page (after the 16-byte page header),
/// as stored on little-endian hosts.
const BBOLT_MAGIC: u32 = 0xED0C_DAED;

/// Whether `path` starts with a bbolt meta page (containerd's `meta.db`).
fn is_bbolt(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| {
            let magic = [head[16], head[17], head[18], head[19]];
            u32::from_le_bytes(magic) == BBOLT_MAGIC || u32::from_be_bytes(magic) == BBOLT_MAGIC
        })
}

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(METADATA, "bolt", &[CONTENT, SNAPSHOTTER], init)
}

/// Removes the blobs and backend snapshots no record holds (left by a
/// crash between writing bytes and recording them) and logs records whose
/// bytes or backend are gone; a failure is logged, not fatal.
fn startup_reconcile(db: &Db, content: &NamespacedContent, snapshots: &NamespacedSnapshots) {
    match crated_metadata::fsck::reconcile(db, content, snapshots) {
        Ok(r) => {
            for f in &r.blobs {
                tracing::warn!(finding = ?f, "startup reconcile: content");
            }
            for f in &r.snapshots {
                tracing::warn!(finding = ?f, "startup reconcile: snapshot");
            }
            if r.removed > 0 {
                tracing::info!(
                    removed = r.removed,
                    "startup reconcile removed unrecorded objects"
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "startup reconcile failed; the stores were left as they are")
        }
    }
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let backend: Arc<ContentBackend> = ctx.plugins.first(CONTENT)?;
    let path = ctx.root.join("meta.db");
    if is_bbolt(&path) {
        return Err(InitError::Failed(crated_core::Error::failed_precondition(
            format!(
                "{} is a bbolt database, the metadata store of containerd; crated keeps its \
             metadata in its own format and cannot open it. Point crated at a root of its own \
             (--root or `root` in the config); adopting a containerd root (a future \
             `crated adopt` command) is not available yet",
                path.display()
            ),
        )));
    }
    let db = Db::open(&path)?;
    let backends = ctx
        .plugins
        .all::<SnapshotterBackend>(SNAPSHOTTER)
        .into_iter()
        .map(|(id, b)| (id, b.0.clone()))
        .collect();
    ctx.exports
        .insert("path".into(), path.display().to_string());
    let content = NamespacedContent::new(db.clone(), backend.0.clone());
    let snapshots = NamespacedSnapshots::new(db.clone(), backends);
    startup_reconcile(&db, &content, &snapshots);
    Ok(Arc::new(Metadata {
        content,
        namespaces: Namespaces::new(db.clone()),
        leases: Leases::new(db.clone()),
        images: Images::new(db.clone()),
        containers: Containers::new(db.clone()),
        snapshots,
        gc: crate::gc::GcTrigger::default(),
        db,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bbolt_files_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let mut page = vec![0u8; 4096];
        page[16..20].copy_from_slice(&BBOLT_MAGIC.to_le_bytes());
        std::fs::write(&path, &page).unwrap();
        assert!(is_bbolt(&path));
        std::fs::write(&path, b"redb or anything else, long enough").unwrap();
        assert!(!is_bbolt(&path));
        assert!(!is_bbolt(&dir.path().join("absent.db")));
    }
}
