//! Checks of the metadata rules: Update, labels, Remove, error kinds,
//! Usage, persistence across a reopen, and Cleanup.

use std::collections::HashMap;

use chrono::Utc;
use crated_core::ErrorKind;
use crated_core::snapshot::{Info, Kind, Usage};

use super::helpers::{Mounted, expect_kind, gc_labels, scratch_dir};
use super::{CheckResult, Env, Failure};

/// A label a snapshotter may add on its own (overlayfs's
/// `upperdir_label`); label comparisons ignore it.
const ADDED_LABEL: &str = "containerd.io/snapshot/overlay.upperdir";

fn label_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_labels(
    what: &str,
    got: &HashMap<String, String>,
    want: &HashMap<String, String>,
) -> CheckResult {
    let mut got = got.clone();
    got.remove(ADDED_LABEL);
    ensure!(&got == want, "{what}: labels {got:?}, want {want:?}");
    Ok(())
}

/// c1, c2 (on c1) committed; a1 (on c2), a2 active; v1 (on c2), v2 views.
fn base_snapshots(env: &Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("c1-a", "", gc_labels())?;
    sn.commit("c1", "c1-a", gc_labels())?;
    sn.prepare("c2-a", "c1", gc_labels())?;
    sn.commit("c2", "c2-a", gc_labels())?;
    sn.prepare("a1", "c2", gc_labels())?;
    sn.prepare("a2", "", gc_labels())?;
    sn.view("v1", "c2", gc_labels())?;
    sn.view("v2", "", gc_labels())?;
    Ok(())
}

/// Update changes labels (all, or single ones by field path) and the
/// updated time only; other field paths are `InvalidArgument`.
pub fn update(env: &mut Env<'_>) -> CheckResult {
    let t1 = Utc::now();
    base_snapshots(env)?;
    let t2 = Utc::now();
    let sn = env.sn();
    let cases = [
        ("c1", Kind::Committed, ""),
        ("c2", Kind::Committed, "c1"),
        ("a1", Kind::Active, "c2"),
        ("a2", Kind::Active, ""),
        ("v1", Kind::View, "c2"),
        ("v2", Kind::View, ""),
    ];
    for (name, kind, parent) in cases {
        let st = sn.stat(name)?;
        ensure!(
            st.created_at >= t1 && st.created_at <= t2,
            "{name}: created {} not in [{t1}, {t2}]",
            st.created_at
        );
        ensure!(
            st.created_at == st.updated_at,
            "{name}: updated {} != created {}",
            st.updated_at,
            st.created_at
        );
        let same = |i: &Info| i.kind == kind && i.parent == parent && i.name == name;
        ensure!(same(&st), "{name}: {st:?}");
        let root_time = Utc::now().to_rfc3339();
        let want = label_map(&[
            ("l1", "v1"),
            ("l2", "v2"),
            ("l3", "v3"),
            ("containerd.io/gc.root", &root_time),
        ]);
        let mut req = st.clone();
        req.parent = "doesnotexist".into();
        req.labels = want.clone();
        let u1 = Utc::now();
        let got = sn.update(req.clone(), &[])?;
        let u2 = Utc::now();
        ensure!(
            got.created_at == st.created_at,
            "{name}: update changed created"
        );
        ensure!(
            got.updated_at >= u1 && got.updated_at <= u2,
            "{name}: updated {} not in [{u1}, {u2}]",
            got.updated_at
        );
        ensure!(
            same(&got),
            "{name}: update changed more than labels: {got:?}"
        );
        check_labels(name, &got.labels, &want)?;

        req.labels = label_map(&[("l1", "updated"), ("l4", "v4")]);
        let got = sn.update(req.clone(), &["labels.l1".into(), "labels.l2".into()])?;
        let want = label_map(&[
            ("l1", "updated"),
            ("l3", "v3"),
            ("containerd.io/gc.root", &root_time),
        ]);
        check_labels(name, &got.labels, &want)?;

        req.labels = label_map(&[("l4", "v4"), ("containerd.io/gc.root", &root_time)]);
        let got = sn.update(req.clone(), &["labels".into()])?;
        check_labels(name, &got.labels, &req.labels)?;
        check_labels(name, &sn.stat(name)?.labels, &req.labels)?;

        expect_kind(
            sn.update(req, &["parent".into()]),
            ErrorKind::InvalidArgument,
            "update of parent",
        )?;
    }
    let missing = Info {
        name: "missing".into(),
        ..sn.stat("c1")?
    };
    expect_kind(
        sn.update(missing, &[]),
        ErrorKind::NotFound,
        "update of a missing snapshot",
    )
}

/// Labels given to Prepare are kept (empty values dropped); Commit's
/// labels replace them.
pub fn labels(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("a", "", label_map(&[("x", "1"), ("empty", "")]))?;
    check_labels("prepared", &sn.stat("a")?.labels, &label_map(&[("x", "1")]))?;
    sn.commit("c", "a", label_map(&[("y", "2")]))?;
    check_labels(
        "committed",
        &sn.stat("c")?.labels,
        &label_map(&[("y", "2")]),
    )?;
    sn.view("v", "c", HashMap::new())?;
    check_labels("view", &sn.stat("v")?.labels, &HashMap::new())
}

/// Keys of removed snapshots can be used again; a committed snapshot goes
/// once its children are gone.
pub fn remove(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("committed-a", "", gc_labels())?;
    sn.commit("committed-1", "committed-a", gc_labels())?;
    sn.prepare("reuse-1", "committed-1", gc_labels())?;
    sn.remove("reuse-1")?;
    sn.view("reuse-1", "committed-1", gc_labels())?;
    sn.remove("reuse-1")?;
    sn.prepare("reuse-1", "", gc_labels())?;
    sn.remove("committed-1")?;
    sn.commit("committed-1", "reuse-1", gc_labels())?;
    expect_kind(
        sn.remove("reuse-1"),
        ErrorKind::NotFound,
        "remove of a committed key",
    )
}

/// base <- intermediate <- top: the intermediate cannot be removed until
/// the top is gone.
pub fn remove_intermediate_snapshot(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("base", "", gc_labels())?;
    sn.commit("committed-base", "base", gc_labels())?;
    sn.prepare("intermediate", "committed-base", gc_labels())?;
    sn.commit("committed-inter", "intermediate", gc_labels())?;
    sn.prepare("toplayer", "committed-inter", gc_labels())?;
    expect_kind(
        sn.remove("committed-inter"),
        ErrorKind::FailedPrecondition,
        "remove of intermediate",
    )?;
    expect_kind(
        sn.remove("committed-base"),
        ErrorKind::FailedPrecondition,
        "remove of base",
    )?;
    sn.remove("toplayer")?;
    sn.remove("committed-inter")?;
    sn.remove("committed-base")?;
    Ok(())
}

/// Every misuse fails with containerd's kind.
pub fn error_kinds(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("a", "", gc_labels())?;
    sn.commit("c", "a", gc_labels())?;
    sn.prepare("active", "c", gc_labels())?;
    sn.view("view", "c", gc_labels())?;
    use ErrorKind::*;
    expect_kind(sn.stat("missing"), NotFound, "stat of a missing key")?;
    expect_kind(sn.usage("missing"), NotFound, "usage of a missing key")?;
    expect_kind(sn.mounts("missing"), NotFound, "mounts of a missing key")?;
    expect_kind(
        sn.mounts("c"),
        FailedPrecondition,
        "mounts of a committed snapshot",
    )?;
    expect_kind(
        sn.prepare("x", "missing", gc_labels()),
        NotFound,
        "prepare on a missing parent",
    )?;
    expect_kind(
        sn.view("x", "missing", gc_labels()),
        NotFound,
        "view of a missing parent",
    )?;
    expect_kind(
        sn.prepare("x", "active", gc_labels()),
        InvalidArgument,
        "prepare on an active parent",
    )?;
    expect_kind(
        sn.view("x", "view", gc_labels()),
        InvalidArgument,
        "view of a view",
    )?;
    expect_kind(
        sn.commit("n", "view", gc_labels()),
        FailedPrecondition,
        "commit of a view",
    )?;
    expect_kind(
        sn.commit("n", "c", gc_labels()),
        FailedPrecondition,
        "commit of a committed snapshot",
    )?;
    expect_kind(
        sn.commit("n", "missing", gc_labels()),
        NotFound,
        "commit of a missing key",
    )?;
    expect_kind(
        sn.commit("view", "active", gc_labels()),
        AlreadyExists,
        "commit onto a used name",
    )?;
    expect_kind(sn.remove("missing"), NotFound, "remove of a missing key")?;
    expect_kind(sn.remove("c"), FailedPrecondition, "remove of a parent")?;
    ensure!(
        sn.stat("active")?.kind == Kind::Active,
        "a failed commit changed the active snapshot"
    );
    ensure!(sn.stat("x").is_err(), "a failed prepare left a snapshot");
    sn.remove("view")?;
    expect_kind(
        sn.remove("c"),
        FailedPrecondition,
        "remove of a parent with an active child",
    )?;
    sn.remove("active")?;
    sn.remove("c")?;
    Ok(())
}

/// Usage counts what an active snapshot holds; Commit records it; views
/// use nothing of their own.
pub fn usage(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    let mounts = sn.prepare("a", "", gc_labels())?;
    let m = Mounted::mount(&mounts, &scratch_dir(env.work(), "usage")?)?;
    std::fs::write(m.path().join("big"), vec![7u8; 1 << 20])?;
    std::fs::create_dir(m.path().join("dir"))?;
    for i in 0..3 {
        std::fs::write(m.path().join("dir").join(i.to_string()), "x")?;
    }
    std::fs::hard_link(m.path().join("big"), m.path().join("big-link"))?;
    m.unmount()?;
    let active = sn.usage("a")?;
    // The root, big (linked twice), dir and its three files.
    ensure!(
        active.inodes == 6,
        "usage of the active snapshot: {active:?}, want 6 inodes"
    );
    ensure!(
        active.size >= 1 << 20,
        "usage of the active snapshot: {active:?}, want at least 1 MiB"
    );
    sn.commit("c", "a", gc_labels())?;
    let committed = sn.usage("c")?;
    ensure!(
        committed == active,
        "usage after commit {committed:?}, before {active:?}"
    );

    let mounts = sn.prepare("b", "c", gc_labels())?;
    let m = Mounted::mount(&mounts, &scratch_dir(env.work(), "usage")?)?;
    std::fs::write(m.path().join("small"), vec![1u8; 8192])?;
    m.unmount()?;
    let child = sn.usage("b")?;
    ensure!(
        child.inodes >= 2 && child.size >= 8192,
        "usage of the child: {child:?}"
    );
    sn.view("v", "c", gc_labels())?;
    let view = sn.usage("v")?;
    ensure!(view == Usage::default(), "usage of a view: {view:?}");
    Ok(())
}

/// Everything survives closing and reopening the snapshotter; new ids do
/// not collide with old ones.
pub fn reopen(env: &mut Env<'_>) -> CheckResult {
    let mounts = env.sn().prepare("c1-a", "", gc_labels())?;
    let m = Mounted::mount(&mounts, &scratch_dir(env.work(), "reopen")?)?;
    std::fs::write(m.path().join("kept"), "yes")?;
    m.unmount()?;
    env.sn().commit("c1", "c1-a", gc_labels())?;
    env.sn().prepare("a1", "c1", gc_labels())?;
    env.sn().view("v1", "c1", gc_labels())?;
    let before = infos(env)?;
    env.reopen()?;
    let after = infos(env)?;
    ensure!(
        before == after,
        "after reopen: {after:?}, before: {before:?}"
    );
    let sn = env.sn();
    let mounts = sn.prepare("a2", "c1", gc_labels())?;
    ensure!(
        sn.mounts("a1")? != mounts,
        "a new snapshot got the mounts of an old one"
    );
    let m = Mounted::mount(&mounts, &scratch_dir(env.work(), "reopen")?)?;
    let kept = std::fs::read_to_string(m.path().join("kept"))?;
    ensure!(
        kept == "yes",
        "file of the committed parent after reopen: {kept:?}"
    );
    m.unmount()?;
    sn.commit("c2", "a1", gc_labels())?;
    ensure!(
        sn.stat("c2")?.parent == "c1",
        "commit after reopen lost the parent"
    );
    Ok(())
}

fn infos(env: &Env<'_>) -> Result<Vec<Info>, Failure> {
    let mut all = Vec::new();
    env.sn().walk(&mut |i| {
        all.push(i.clone());
        Ok(())
    })?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// After everything is removed, Cleanup leaves no snapshot directories,
/// including stale ones a crash could have left.
pub fn cleanup(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("a", "", gc_labels())?;
    sn.commit("c", "a", gc_labels())?;
    sn.prepare("b", "c", gc_labels())?;
    sn.view("v", "c", gc_labels())?;
    for dir in top_dirs(env)? {
        let stale = dir.join("999999");
        std::fs::create_dir(&stale)?;
        std::fs::write(stale.join("f"), "stale")?;
    }
    sn.cleanup()?;
    sn.usage("b")
        .map_err(|e| Failure::from(e).context("cleanup removed a live snapshot"))?;
    for k in ["v", "b", "c"] {
        sn.remove(k)?;
    }
    sn.cleanup()?;
    for dir in top_dirs(env)? {
        let left: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        ensure!(
            left.is_empty(),
            "after cleanup {} still holds {:?}",
            dir.display(),
            left.iter().map(|e| e.file_name()).collect::<Vec<_>>()
        );
    }
    sn.prepare("again", "", gc_labels())?;
    Ok(())
}

/// The directories directly in the snapshotter root.
fn top_dirs(env: &Env<'_>) -> Result<Vec<std::path::PathBuf>, Failure> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(env.root())? {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.push(e.path());
        }
    }
    Ok(out)
}
