//! The metastore's rules, without any filesystem work.

use std::collections::HashMap;

use crated_core::ErrorKind;
use crated_core::snapshot::{Info, Kind, Usage};

use super::*;

fn store() -> (tempfile::TempDir, MetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let ms = MetaStore::open(&dir.path().join("metadata.redb")).unwrap();
    (dir, ms)
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `f` in a write transaction and commits it if it succeeds.
fn write<T>(ms: &MetaStore, f: impl FnOnce(&WriteTxn) -> Result<T>) -> Result<T> {
    let tx = ms.begin_write()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

fn committed(ms: &MetaStore, name: &str, parent: &str) -> String {
    let key = format!("{name}-active");
    write(ms, |tx| {
        tx.create(Kind::Active, &key, parent, HashMap::new())?;
        tx.commit_active(&key, name, Usage::default(), HashMap::new())
    })
    .unwrap()
}

#[test]
fn ids_come_from_a_counter_and_chains_are_nearest_first() {
    let (_d, ms) = store();
    assert_eq!(committed(&ms, "a", ""), "1");
    assert_eq!(committed(&ms, "b", "a"), "2");
    let s = write(&ms, |tx| tx.create(Kind::View, "v", "b", HashMap::new())).unwrap();
    assert_eq!(s.id, "3");
    assert_eq!(s.parent_ids, vec!["2".to_string(), "1".to_string()]);
    assert_eq!(ms.begin_read().unwrap().snapshot("v").unwrap(), s);
}

#[test]
fn aborted_transactions_leave_nothing() {
    let (_d, ms) = store();
    {
        let tx = ms.begin_write().unwrap();
        tx.create(Kind::Active, "a", "", HashMap::new()).unwrap();
    }
    let err = ms.begin_read().unwrap().info("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn creation_rules() {
    let (_d, ms) = store();
    committed(&ms, "base", "");
    write(&ms, |tx| {
        tx.create(Kind::Active, "act", "base", HashMap::new())
    })
    .unwrap();
    let cases = [
        (Kind::Active, "act", "", ErrorKind::AlreadyExists),
        (Kind::View, "base", "", ErrorKind::AlreadyExists),
        (Kind::Active, "x", "missing", ErrorKind::NotFound),
        (Kind::View, "x", "act", ErrorKind::InvalidArgument),
        (Kind::Committed, "x", "", ErrorKind::InvalidArgument),
    ];
    for (kind, key, parent, want) in cases {
        let err = write(&ms, |tx| tx.create(kind, key, parent, HashMap::new())).unwrap_err();
        assert_eq!(err.kind(), want, "{key} on {parent:?}: {err}");
    }
}

#[test]
fn commit_rules() {
    let (_d, ms) = store();
    committed(&ms, "base", "");
    write(&ms, |tx| {
        tx.create(Kind::View, "view", "base", HashMap::new())?;
        tx.create(Kind::Active, "act", "base", labels(&[("keep", "no")]))
    })
    .unwrap();
    let commit = |key: &str, name: &str| {
        write(&ms, |tx| {
            tx.commit_active(key, name, Usage::default(), HashMap::new())
        })
    };
    assert_eq!(
        commit("view", "n").unwrap_err().kind(),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(
        commit("base", "n").unwrap_err().kind(),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(
        commit("missing", "n").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        commit("act", "base").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let usage = Usage {
        size: 42,
        inodes: 3,
    };
    write(&ms, |tx| {
        tx.commit_active("act", "done", usage, labels(&[("new", "1")]))
    })
    .unwrap();
    let r = ms.begin_read().unwrap();
    let (_, info, got) = r.info("done").unwrap();
    assert_eq!(info.kind, Kind::Committed);
    assert_eq!(info.parent, "base");
    assert_eq!(info.labels, labels(&[("new", "1")]));
    assert_eq!(info.created_at, info.updated_at);
    assert_eq!(got, usage);
    assert_eq!(r.info("act").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn remove_refuses_parents_and_frees_them_after_children_go() {
    let (_d, ms) = store();
    committed(&ms, "base", "");
    committed(&ms, "mid", "base");
    write(&ms, |tx| {
        tx.create(Kind::Active, "top", "mid", HashMap::new())
    })
    .unwrap();
    for key in ["base", "mid"] {
        let err = write(&ms, |tx| tx.remove(key)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
        assert!(err.message().contains("remove"), "{err}");
    }
    assert_eq!(
        write(&ms, |tx| tx.remove("top")).unwrap(),
        ("3".to_string(), Kind::Active)
    );
    write(&ms, |tx| tx.remove("mid")).unwrap();
    write(&ms, |tx| tx.remove("base")).unwrap();
    assert_eq!(
        write(&ms, |tx| tx.remove("base")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(ms.begin_read().unwrap().all().unwrap().is_empty());
}

#[test]
fn update_changes_only_labels() {
    let (_d, ms) = store();
    write(&ms, |tx| {
        tx.create(
            Kind::Active,
            "a",
            "",
            labels(&[("l1", "v1"), ("l2", "v2"), ("empty", "")]),
        )
    })
    .unwrap();
    let (_, mut info, _) = ms.begin_read().unwrap().info("a").unwrap();
    assert_eq!(info.labels, labels(&[("l1", "v1"), ("l2", "v2")]));
    info.labels = labels(&[("l1", "updated"), ("l3", "v3")]);
    info.parent = "ignored".into();
    let fields = ["labels.l1".to_string(), "labels.l2".to_string()];
    let got = write(&ms, |tx| tx.update(&info, &fields)).unwrap();
    assert_eq!(got.labels, labels(&[("l1", "updated")]));
    assert_eq!(got.parent, "");
    assert!(got.updated_at > got.created_at);
    let got = write(&ms, |tx| tx.update(&info, &[])).unwrap();
    assert_eq!(got.labels, labels(&[("l1", "updated"), ("l3", "v3")]));
    let err = write(&ms, |tx| tx.update(&info, &["parent".to_string()])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let missing = Info {
        name: "nope".into(),
        ..got
    };
    let err = write(&ms, |tx| tx.update(&missing, &[])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn survives_reopen_and_keeps_counting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.redb");
    {
        let ms = MetaStore::open(&path).unwrap();
        committed(&ms, "a", "");
    }
    let ms = MetaStore::open(&path).unwrap();
    let (id, info, _) = ms.begin_read().unwrap().info("a").unwrap();
    assert_eq!((id.as_str(), info.kind), ("1", Kind::Committed));
    assert_eq!(committed(&ms, "b", "a"), "2");
    let ids = ms.begin_write().unwrap().ids().unwrap();
    assert_eq!(ids.len(), 2);
}
