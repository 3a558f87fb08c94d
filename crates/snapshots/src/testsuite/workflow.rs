//! Checks of the prepare / commit / view workflow (containerd's Basic,
//! StatActive, StatCommitted, Transitivity, PrepareView, ViewReadonly,
//! RootPermission, Walk and StatInWalk).

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;

use crated_core::ErrorKind;
use crated_core::snapshot::{Info, Kind};

use super::fstest::{Applier, create_dir, create_file, remove_all};
use super::helpers::{Mounted, check_equal_with_applier, expect_kind, gc_labels};
use super::{CheckResult, Env};

fn key(env: &Env<'_>, name: &str) -> String {
    env.work().join(name).display().to_string()
}

/// Prepare, write, commit, prepare on it, change, commit, view: each step
/// shows exactly the files written so far; a parent cannot be removed
/// before its children.
pub fn basic(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    let initial = Applier(vec![
        create_file("/foo", "foo\n", 0o777),
        create_dir("/a", 0o755),
        create_dir("/a/b", 0o755),
        create_dir("/a/b/c", 0o755),
    ]);
    let diff = Applier(vec![
        create_file("/bar", "bar\n", 0o777),
        create_file("/foo", "bar\n", 0o777),
        remove_all("/a/b"),
    ]);
    let preparing = key(env, "preparing");
    let mounts = sn.prepare(&preparing, "", gc_labels())?;
    ensure!(!mounts.is_empty(), "prepare returned no mounts");
    let m = Mounted::mount(&mounts, &env.work().join("preparing"))?;
    initial.apply(m.path())?;
    m.unmount()?;

    let committed = key(env, "committed");
    sn.commit(&committed, &preparing, gc_labels())?;
    let si = sn.stat(&committed)?;
    ensure!(
        si.parent.is_empty() && si.kind == Kind::Committed,
        "stat after commit: {si:?}"
    );
    expect_kind(
        sn.stat(&preparing),
        ErrorKind::NotFound,
        "stat of the committed active key",
    )?;

    let next = key(env, "nextlayer");
    let mounts = sn.prepare(&next, &committed, gc_labels())?;
    let m = Mounted::mount(&mounts, &env.work().join("nextlayer"))?;
    check_equal_with_applier(m.path(), env.work(), &initial)?;
    diff.apply(m.path())?;
    m.unmount()?;
    let ni = sn.stat(&next)?;
    ensure!(
        ni.parent == committed && ni.kind == Kind::Active,
        "stat of next: {ni:?}"
    );

    let next_committed = key(env, "committed-next");
    sn.commit(&next_committed, &next, gc_labels())?;
    let si2 = sn.stat(&next_committed)?;
    ensure!(
        si2.parent == committed && si2.kind == Kind::Committed,
        "stat: {si2:?}"
    );
    expect_kind(
        sn.stat(&next),
        ErrorKind::NotFound,
        "stat of committed next",
    )?;

    let mut walked: HashMap<String, Info> = HashMap::new();
    sn.walk(&mut |info| {
        walked.insert(info.name.clone(), info.clone());
        Ok(())
    })?;
    for want in [&si, &si2] {
        ensure!(
            walked.get(&want.name) == Some(want),
            "walk gave {:?}, stat {want:?}",
            walked.get(&want.name)
        );
    }

    let view = key(env, "nextnextlayer");
    let mounts = sn.view(&view, &next_committed, gc_labels())?;
    let m = Mounted::mount(&mounts, &env.work().join("nextnextlayer"))?;
    check_equal_with_applier(m.path(), env.work(), &initial.then(&diff))?;
    m.unmount()?;

    sn.remove(&view)?;
    let err = sn.remove(&committed);
    ensure!(
        matches!(&err, Err(e) if e.kind() == ErrorKind::FailedPrecondition && e.to_string().contains("remove")),
        "removing a parent: {err:?}"
    );
    sn.remove(&next_committed)?;
    sn.remove(&committed)?;
    Ok(())
}

fn prepare_with_file(
    env: &Env<'_>,
    name: &str,
    parent: &str,
) -> Result<(String, Mounted), super::Failure> {
    let k = key(env, name);
    let mounts = env.sn().prepare(&k, parent, gc_labels())?;
    ensure!(!mounts.is_empty(), "prepare returned no mounts");
    let m = Mounted::mount(&mounts, &env.work().join(name))?;
    std::fs::write(m.path().join("foo"), "foo\n")?;
    Ok((k, m))
}

/// Stat of a new active snapshot.
pub fn stat_active(env: &mut Env<'_>) -> CheckResult {
    let (k, m) = prepare_with_file(env, "preparing", "")?;
    let si = env.sn().stat(&k)?;
    ensure!(
        si.name == k && si.kind == Kind::Active && si.parent.is_empty(),
        "{si:?}"
    );
    m.unmount()
}

/// Stat of a committed snapshot.
pub fn stat_committed(env: &mut Env<'_>) -> CheckResult {
    let (k, m) = prepare_with_file(env, "preparing", "")?;
    m.unmount()?;
    let committed = key(env, "committed");
    env.sn().commit(&committed, &k, gc_labels())?;
    let si = env.sn().stat(&committed)?;
    ensure!(
        si.name == committed && si.kind == Kind::Committed && si.parent.is_empty(),
        "{si:?}"
    );
    Ok(())
}

/// A <- B: B's parent is A, A has none.
pub fn transitivity(env: &mut Env<'_>) -> CheckResult {
    let (k, m) = prepare_with_file(env, "preparing", "")?;
    m.unmount()?;
    let snap_a = key(env, "snapA");
    env.sn().commit(&snap_a, &k, gc_labels())?;
    let (k, m) = prepare_with_file(env, "next", &snap_a)?;
    std::fs::write(m.path().join("foo"), "foo bar\n")?;
    m.unmount()?;
    let snap_b = key(env, "snapB");
    env.sn().commit(&snap_b, &k, gc_labels())?;
    let (a, b) = (env.sn().stat(&snap_a)?, env.sn().stat(&snap_b)?);
    let parent_of_b = env.sn().stat(&b.parent)?;
    ensure!(
        a.parent.is_empty() && b.parent == snap_a && parent_of_b.parent.is_empty(),
        "{a:?} {b:?}"
    );
    Ok(())
}

/// Prepare or View with a key in use fails with `AlreadyExists`.
pub fn prepare_view_same_key(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("preparing", "", gc_labels())?;
    sn.commit("snapA", "preparing", gc_labels())?;
    sn.prepare("newlayer", "snapA", gc_labels())?;
    expect_kind(
        sn.view("newlayer", "snapA", gc_labels()),
        ErrorKind::AlreadyExists,
        "view on a prepared key",
    )?;
    sn.prepare("prepLayer", "snapA", gc_labels())?;
    expect_kind(
        sn.prepare("prepLayer", "snapA", gc_labels()),
        ErrorKind::AlreadyExists,
        "second prepare",
    )?;
    sn.view("viewLayer", "snapA", gc_labels())?;
    expect_kind(
        sn.view("viewLayer", "snapA", gc_labels()),
        ErrorKind::AlreadyExists,
        "second view",
    )?;
    expect_kind(
        sn.prepare("snapA", "", gc_labels()),
        ErrorKind::AlreadyExists,
        "prepare on a committed name",
    )
}

/// A view is mounted read-only, with no parent, one or several.
pub fn view_readonly(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("preparing", "", gc_labels())?;
    sn.commit("committed", "preparing", gc_labels())?;
    sn.prepare("preparing-2", "committed", gc_labels())?;
    sn.commit("committed-2", "preparing-2", gc_labels())?;
    for (view, parent) in [
        ("view", "committed"),
        ("view-no-parent", ""),
        ("view-two-parents", "committed-2"),
    ] {
        let mounts = sn.view(view, parent, gc_labels())?;
        let m = Mounted::mount(&mounts, &env.work().join(view))?;
        let written = std::fs::write(m.path().join("testfile"), "testcontent");
        ensure!(written.is_err(), "writing into view {view:?} succeeded");
        m.unmount()?;
        sn.remove(view)?;
    }
    sn.remove("committed-2")?;
    sn.remove("committed")?;
    Ok(())
}

/// The root of a new snapshot has mode 0755.
pub fn root_permission(env: &mut Env<'_>) -> CheckResult {
    let mounts = env.sn().prepare("preparing", "", gc_labels())?;
    let m = Mounted::mount(&mounts, &env.work().join("preparing"))?;
    let mode = std::fs::metadata(m.path())?.permissions().mode() & 0o777;
    ensure!(
        mode == 0o755,
        "root of a new snapshot has mode {mode:o}, want 755"
    );
    m.unmount()
}

/// Mounts returns what Prepare and View returned, also after the parent
/// chain grew.
pub fn mounts_are_stable(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    let a = sn.prepare("a", "", gc_labels())?;
    ensure!(sn.mounts("a")? == a, "mounts of a differ from prepare's");
    sn.commit("c1", "a", gc_labels())?;
    sn.prepare("b", "c1", gc_labels())?;
    sn.commit("c2", "b", gc_labels())?;
    for (k, view) in [("active", false), ("view", true)] {
        let got = if view {
            sn.view(k, "c2", gc_labels())?
        } else {
            sn.prepare(k, "c2", gc_labels())?
        };
        ensure!(sn.mounts(k)? == got, "mounts of {k} differ from creation's");
        ensure!(
            view || !got.iter().any(|m| m.read_only()),
            "{k}: read-only mounts {got:?}"
        );
    }
    expect_kind(
        sn.mounts("c2"),
        ErrorKind::FailedPrecondition,
        "mounts of a committed snapshot",
    )
}

/// Walk visits every snapshot once, with the info Stat gives.
pub fn walk(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("a-np", "", gc_labels())?;
    sn.prepare("p-tmp", "", gc_labels())?;
    sn.commit("p", "p-tmp", gc_labels())?;
    sn.prepare("a", "p", gc_labels())?;
    sn.view("v", "p", gc_labels())?;
    let mut labels = gc_labels();
    labels.insert("l".into(), "1".into());
    sn.prepare("p-wl-tmp", "", gc_labels())?;
    sn.commit("p-wl", "p-wl-tmp", labels.clone())?;
    sn.view("v-wl", "p-wl", labels)?;
    let mut seen = Vec::new();
    sn.walk(&mut |info| {
        seen.push(info.name.clone());
        Ok(())
    })?;
    let unique: BTreeSet<&String> = seen.iter().collect();
    ensure!(
        unique.len() == seen.len(),
        "walk visited some twice: {seen:?}"
    );
    let want: BTreeSet<&str> = ["a-np", "p", "a", "v", "p-wl", "v-wl"].into();
    let got: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    ensure!(got == want, "walk visited {got:?}, want {want:?}");
    let mut stop = 0;
    let err = sn.walk(&mut |_| {
        stop += 1;
        Err(crated_core::Error::new(ErrorKind::Aborted, "stop"))
    });
    ensure!(
        err.is_err() && stop == 1,
        "an error from the callback must end the walk"
    );
    Ok(())
}

/// Stat (and even Remove) can be called from inside a Walk callback.
pub fn stat_in_walk(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    sn.prepare("c1-a", "", gc_labels())?;
    sn.commit("c1", "c1-a", gc_labels())?;
    sn.prepare("c2-a", "c1", gc_labels())?;
    sn.commit("c2", "c2-a", gc_labels())?;
    sn.prepare("a1", "c2", gc_labels())?;
    sn.view("v1", "c2", gc_labels())?;
    let mut mismatches = Vec::new();
    sn.walk(&mut |info| {
        let again = sn.stat(&info.name)?;
        if &again != info {
            mismatches.push((info.clone(), again));
        }
        if info.name == "v1" {
            sn.remove("v1")?;
        }
        Ok(())
    })?;
    ensure!(
        mismatches.is_empty(),
        "stat differs from walk: {mismatches:?}"
    );
    expect_kind(
        sn.stat("v1"),
        ErrorKind::NotFound,
        "stat of a view removed during walk",
    )
}
