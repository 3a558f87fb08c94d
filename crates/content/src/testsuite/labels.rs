//! The label checks, for stores that keep labels (the metadata layer's
//! namespaced store; the local store keeps none).

use std::collections::HashMap;

use crated_core::ErrorKind;
use crated_core::content::{ContentStore, Info};

use super::checks::{content, open, write_blob};
use super::{CheckResult, ensure, expect_kind};

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_labels(info: &Info, pairs: &[(&str, &str)]) -> Info {
    Info {
        labels: map(pairs),
        ..info.clone()
    }
}

fn paths(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

/// Labels are replaced whole (no field path, or `labels`) or one by one
/// (`labels.<key>`); an empty value removes one; other fields are refused.
pub fn labels(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(64);
    write_blob(cs, "l", &data)?;
    let info = cs.info(&d)?;
    ensure!(
        info.labels.is_empty(),
        "labels of a new blob: {:?}",
        info.labels
    );

    let got = cs.update(with_labels(&info, &[("a", "1"), ("b", "2")]), &[])?;
    ensure!(
        got.labels == map(&[("a", "1"), ("b", "2")]),
        "after replacing: {got:?}"
    );
    ensure!(
        got.updated_at >= info.updated_at,
        "update went back in time: {got:?}"
    );

    let got = cs.update(
        with_labels(&info, &[("b", "3"), ("c", "x")]),
        &paths(&["labels.b"]),
    )?;
    ensure!(
        got.labels == map(&[("a", "1"), ("b", "3")]),
        "after updating labels.b only: {got:?}"
    );

    let got = cs.update(with_labels(&info, &[]), &paths(&["labels.a"]))?;
    ensure!(
        got.labels == map(&[("b", "3")]),
        "after removing labels.a: {got:?}"
    );

    let got = cs.update(
        with_labels(&info, &[("b", ""), ("d", "4")]),
        &paths(&["labels"]),
    )?;
    ensure!(
        got.labels == map(&[("d", "4")]),
        "after replacing with an empty value: {got:?}"
    );
    ensure!(
        cs.info(&d)?.labels == got.labels,
        "info disagrees with the update's answer"
    );

    expect_kind(
        "update of the size",
        cs.update(
            Info {
                size: 1,
                ..info.clone()
            },
            &paths(&["size"]),
        ),
        ErrorKind::InvalidArgument,
    )?;
    let missing = crate::digest::of(b"no such blob");
    expect_kind(
        "update of a missing blob",
        cs.update(
            Info {
                digest: missing,
                ..info
            },
            &[],
        ),
        ErrorKind::NotFound,
    )
}

/// Committing the bytes of a labelled blob again (`AlreadyExists`) keeps
/// its labels.
pub fn labels_survive_rewrite(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(64);
    write_blob(cs, "l", &data)?;
    let info = cs.info(&d)?;
    cs.update(with_labels(&info, &[("keep", "me")]), &[])?;
    let mut w = open(cs, "again", 0, "")?;
    w.write(&data)?;
    expect_kind(
        "commit of a labelled blob's bytes",
        w.commit(64, &d),
        ErrorKind::AlreadyExists,
    )?;
    let after = cs.info(&d)?;
    ensure!(
        after.labels == map(&[("keep", "me")]),
        "labels after the rewrite: {after:?}"
    );
    Ok(())
}
