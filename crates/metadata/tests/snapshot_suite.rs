//! The snapshotter conformance suite on the metadata layer: one
//! namespace's view ([`NamespacedSnapshotter`]) over the native and the
//! overlayfs backends must behave as a snapshotter does.
//!
//! **These tests need root** (the suite mounts what the snapshotter
//! returns). The backend and the metadata database share the suite's root:
//! the backend owns its directories there, the database is one file beside
//! them, so reopening reopens both, as a restarted daemon does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crated_core::snapshot::Snapshotter;
use crated_metadata::{Db, NamespacedSnapshots};
use crated_snapshots::Native;
use crated_snapshots::overlay::{self, Overlay, OverlayConfig};

/// The metadata database's file in the suite's root.
const DB_FILE: &str = "meta.redb";

/// Namespace `suite`'s view of `backend`, registered as `name`.
fn layered(
    root: &Path,
    name: &str,
    backend: Arc<dyn Snapshotter>,
) -> crated_core::Result<Box<dyn Snapshotter>> {
    let db = Db::open(&root.join(DB_FILE))?;
    let store = NamespacedSnapshots::new(db, HashMap::from([(name.to_string(), backend)]));
    Ok(Box::new(store.namespaced("suite", name)?))
}

mod native {
    use super::*;

    fn make(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
        layered(root, "native", Arc::new(Native::new(root)?))
    }

    crated_snapshots::snapshotter_suite!(std::env::temp_dir(), make; #[ignore = "requires root"]);
}

mod overlayfs {
    use super::*;

    /// A directory where overlayfs works.
    fn scratch() -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let mut why = Vec::new();
            for dir in [std::env::temp_dir(), PathBuf::from("/var/tmp")] {
                match overlay::supported(&dir) {
                    Ok(()) => return dir,
                    Err(e) => why.push(e.to_string()),
                }
            }
            panic!("overlayfs works nowhere to test it: {}", why.join("; "))
        })
        .clone()
    }

    fn make(root: &Path) -> crated_core::Result<Box<dyn Snapshotter>> {
        let backend = Overlay::new(root, OverlayConfig::default())?;
        layered(root, "overlayfs", Arc::new(backend))
    }

    crated_snapshots::snapshotter_suite!(scratch(), make; #[ignore = "requires root"]);
}

/// What one namespace makes is invisible to another, through the trait.
#[test]
fn namespaces_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Snapshotter> = Arc::new(Native::new(dir.path()).unwrap());
    let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
    let store = NamespacedSnapshots::new(db, HashMap::from([("native".to_string(), backend)]));
    let a = store.namespaced("a", "native").unwrap();
    let b = store.namespaced("b", "native").unwrap();
    a.prepare("k", "", HashMap::new()).unwrap();
    a.commit("c", "k", HashMap::new()).unwrap();
    assert_eq!(
        b.stat("c").unwrap_err().kind(),
        crated_core::ErrorKind::NotFound
    );
    assert_eq!(
        b.prepare("x", "c", HashMap::new()).unwrap_err().kind(),
        crated_core::ErrorKind::NotFound
    );
    b.prepare("k", "", HashMap::new()).unwrap();
    let mut seen = Vec::new();
    b.walk(&mut |i| {
        seen.push(i.name.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec!["k".to_string()]);
    assert_eq!(
        store.namespaced("a", "zfs").err().map(|e| e.kind()),
        Some(crated_core::ErrorKind::InvalidArgument)
    );
}
