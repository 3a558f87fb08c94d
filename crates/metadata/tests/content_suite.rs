//! The content-store conformance suite on the metadata layer: one
//! namespace's view ([`NamespacedContentStore`]) over the local store, with
//! the label checks, and what namespaces must not see of each other.

#![allow(clippy::unwrap_used)] // test helpers

use std::path::Path;
use std::sync::Arc;

use crated_content::LocalStore;
use crated_content::digest;
use crated_core::ErrorKind;
use crated_core::content::{
    ContentStore, Info, IngestManager, Ingester, Manager, Provider, WriterOptions,
};
use crated_metadata::{Db, NamespacedContent, NamespacedContentStore};

fn content(root: &Path) -> crated_core::Result<NamespacedContent> {
    let db = Db::open(&root.join("meta.redb"))?;
    let store = LocalStore::open(root.join("content"))?;
    Ok(NamespacedContent::new(db, Arc::new(store)))
}

fn make(root: &Path) -> crated_core::Result<Box<dyn ContentStore>> {
    Ok(Box::new(content(root)?.namespaced("suite")))
}

crated_content::content_suite!(make);
crated_content::content_label_suite!(make);

fn two_namespaces() -> (
    tempfile::TempDir,
    NamespacedContentStore,
    NamespacedContentStore,
) {
    let dir = tempfile::tempdir().unwrap();
    let c = content(dir.path()).unwrap();
    let (a, b) = (c.namespaced("a"), c.namespaced("b"));
    (dir, a, b)
}

fn put(cs: &dyn ContentStore, reference: &str, data: &[u8]) -> String {
    let mut w = cs
        .writer(WriterOptions {
            reference: reference.into(),
            ..Default::default()
        })
        .unwrap();
    w.write(data).unwrap();
    w.commit(data.len() as i64, "").unwrap()
}

fn kind<T>(r: crated_core::Result<T>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn a_blob_is_visible_only_where_it_was_written() {
    let (_dir, a, b) = two_namespaces();
    let d = put(&a, "r", b"only in a");
    assert_eq!(a.info(&d).unwrap().size, 9);
    assert_eq!(kind(b.info(&d)), Some(ErrorKind::NotFound));
    assert_eq!(kind(b.reader_at(&d)), Some(ErrorKind::NotFound));
    assert_eq!(kind(b.delete(&d)), Some(ErrorKind::NotFound));
    assert!(b.list().unwrap().is_empty());
    assert_eq!(a.list().unwrap().len(), 1);
}

#[test]
fn ingests_are_per_namespace() {
    let (_dir, a, b) = two_namespaces();
    let opts = WriterOptions {
        reference: "same-ref".into(),
        ..Default::default()
    };
    let mut wa = a.writer(opts.clone()).unwrap();
    wa.write(b"aaaa").unwrap();
    // The same ref in another namespace is another ingest, not a locked one.
    let mut wb = b.writer(opts).unwrap();
    assert_eq!(wb.status().unwrap().offset, 0);
    wb.write(b"bb").unwrap();
    assert_eq!(a.status("same-ref").unwrap().offset, 4);
    assert_eq!(b.status("same-ref").unwrap().offset, 2);
    drop(wb);
    b.abort("same-ref").unwrap();
    assert_eq!(kind(b.status("same-ref")), Some(ErrorKind::NotFound));
    assert!(b.list_statuses().unwrap().is_empty());
    assert_eq!(a.list_statuses().unwrap().len(), 1);
    wa.write(b"!").unwrap();
    let d = wa.commit(5, "").unwrap();
    assert_eq!(d, digest::of(b"aaaa!"));
}

#[test]
fn shared_bytes_are_recorded_in_the_writing_namespace() {
    let (_dir, a, b) = two_namespaces();
    let d = put(&a, "r", b"shared bytes");
    // A writer in b that expects bytes the store already holds answers
    // AlreadyExists and the blob is then b's too.
    let opened = b.writer(WriterOptions {
        reference: "r".into(),
        total: 12,
        expected: d.clone(),
    });
    assert_eq!(kind(opened), Some(ErrorKind::AlreadyExists));
    assert_eq!(b.info(&d).unwrap().size, 12);
    // Deleting it in a leaves b's.
    a.delete(&d).unwrap();
    assert_eq!(kind(a.info(&d)), Some(ErrorKind::NotFound));
    let r = b.reader_at(&d).unwrap();
    let mut buf = [0u8; 12];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 12);
    assert_eq!(&buf, b"shared bytes");
}

#[test]
fn labels_are_per_namespace() {
    let (_dir, a, b) = two_namespaces();
    let d = put(&a, "r", b"labelled");
    put(&b, "r", b"labelled");
    let info = a.info(&d).unwrap();
    a.update(
        Info {
            labels: [("k".to_string(), "a".to_string())].into(),
            ..info
        },
        &[],
    )
    .unwrap();
    assert_eq!(
        a.info(&d).unwrap().labels.get("k").map(String::as_str),
        Some("a")
    );
    assert!(b.info(&d).unwrap().labels.is_empty());
}
