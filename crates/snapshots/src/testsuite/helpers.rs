//! Building blocks of the checks: guarded mounts, snapshot chains made
//! from appliers, and comparisons against reference trees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crated_core::ErrorKind;
use crated_core::mount::Mount;
use crated_core::snapshot::Snapshotter;

use super::fstest::{Applier, check_directory_equal};
use super::{CheckResult, Failure};

/// Mounts on a directory, undone when dropped (so a failing check leaves
/// nothing mounted).
pub struct Mounted {
    target: PathBuf,
}

impl Mounted {
    /// Mounts `mounts` on `target` (created if missing). If one of them
    /// fails, those already made are undone.
    pub fn mount(mounts: &[Mount], target: &Path) -> Result<Self, Failure> {
        std::fs::create_dir_all(target)?;
        let guard = Mounted {
            target: target.to_path_buf(),
        };
        crated_mount::mount_all(mounts, target)
            .map_err(|e| Failure::from(e).context(format!("mounting {mounts:?}")))?;
        Ok(guard)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting failure.
    pub fn unmount(mut self) -> CheckResult {
        let target = std::mem::take(&mut self.target);
        crated_mount::unmount_all(&target).map_err(Failure::from)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.target.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = crated_mount::unmount_all(&self.target) {
            eprintln!("unmounting {}: {e}", self.target.display());
        }
    }
}

/// The labels containerd's suite puts on every snapshot.
pub(crate) fn gc_labels() -> HashMap<String, String> {
    HashMap::from([(
        "containerd.io/gc.root".to_owned(),
        chrono::Utc::now().to_rfc3339(),
    )])
}

/// A name no other call returns in this process.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Checks that `result` failed with `kind`.
pub(crate) fn expect_kind<T: std::fmt::Debug>(
    result: crated_core::Result<T>,
    kind: ErrorKind,
    what: &str,
) -> CheckResult {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(Failure::new(format!("{what}: want {kind}, got error {e}"))),
        Ok(v) => Err(Failure::new(format!(
            "{what}: want {kind}, got success {v:?}"
        ))),
    }
}

/// A new empty directory under `work`.
pub(crate) fn scratch_dir(work: &Path, prefix: &str) -> Result<PathBuf, Failure> {
    let dir = work.join(unique(prefix));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Mounts `mounts`, applies `applier` and unmounts.
pub(crate) fn apply_to_mounts(mounts: &[Mount], work: &Path, applier: &Applier) -> CheckResult {
    let m = Mounted::mount(mounts, &scratch_dir(work, "prepare")?)?;
    applier.apply(m.path())?;
    m.unmount()
}

/// Prepares a snapshot on `parent`, applies `applier` in it and commits
/// it under a new name, which is returned.
pub(crate) fn create_snapshot(
    sn: &dyn Snapshotter,
    parent: &str,
    work: &Path,
    applier: &Applier,
) -> Result<String, Failure> {
    let name = unique("layer");
    let key = format!("{name}-prepare");
    let mounts = sn.prepare(&key, parent, gc_labels())?;
    apply_to_mounts(&mounts, work, applier)?;
    sn.commit(&name, &key, gc_labels())?;
    Ok(name)
}

/// Checks, through a view of `name`, that it holds what `expected` holds.
pub(crate) fn check_snapshot(
    sn: &dyn Snapshotter,
    work: &Path,
    name: &str,
    expected: &Path,
) -> CheckResult {
    let view = format!("{name}-view");
    let mounts = sn.view(&view, name, gc_labels())?;
    let checked = Mounted::mount(&mounts, &scratch_dir(work, "check")?).and_then(|m| {
        check_directory_equal(expected, m.path())?;
        m.unmount()
    });
    let removed = sn.remove(&view).map_err(Failure::from);
    checked.and(removed)
}

/// Builds a chain of snapshots, one per applier, and checks each against
/// a plain directory the same appliers were applied to.
pub(crate) fn check_snapshots(
    sn: &dyn Snapshotter,
    work: &Path,
    appliers: &[Applier],
) -> CheckResult {
    let flat = scratch_dir(work, "flat")?;
    let mut parent = String::new();
    for (i, a) in appliers.iter().enumerate() {
        let layer = i + 1;
        let name = create_snapshot(sn, &parent, work, a)
            .map_err(|e| e.context(format!("creating snapshot {layer}")))?;
        a.apply(&flat).map_err(|e| {
            Failure::new(format!("applying layer {layer} to {}: {e}", flat.display()))
        })?;
        check_snapshot(sn, work, &name, &flat)
            .map_err(|e| e.context(format!("checking snapshot {layer}")))?;
        parent = name;
    }
    Ok(())
}

/// Checks that `dir` holds what `applier` makes in an empty directory.
pub(crate) fn check_equal_with_applier(dir: &Path, work: &Path, applier: &Applier) -> CheckResult {
    let expected = scratch_dir(work, "expected")?;
    applier.apply(&expected)?;
    check_directory_equal(&expected, dir)
}
