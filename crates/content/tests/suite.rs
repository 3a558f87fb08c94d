//! The content-store conformance suite on the local store.

use std::path::Path;

use crated_content::LocalStore;
use crated_core::content::ContentStore;

fn make(root: &Path) -> crated_core::Result<Box<dyn ContentStore>> {
    Ok(Box::new(LocalStore::open(root)?))
}

crated_content::content_suite!(make);

/// The local store keeps no labels and says so.
#[test]
fn local_store_refuses_label_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let d = store.write_blob("r", b"x", "").unwrap();
    let mut info = crated_core::content::Manager::info(&store, &d).unwrap();
    info.labels.insert("a".into(), "1".into());
    let err = crated_core::content::Manager::update(&store, info, &[]).unwrap_err();
    assert_eq!(err.kind(), crated_core::ErrorKind::NotImplemented);
}
