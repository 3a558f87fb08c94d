//! The daemon's own process settings from the config: `oom_score`
//! (written to `/proc/self/oom_score_adj`) and `[cgroup] path` (the daemon
//! moves itself into that cgroup, on cgroup v2, v1 or a hybrid of both).

use std::path::{Path, PathBuf};

use crated_core::Error;

/// Where cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Sets this process's OOM score adjustment (-1000..=1000); 0 leaves it.
pub fn apply_oom_score(score: i64) -> Result<(), Error> {
    if score == 0 {
        return Ok(());
    }
    if !(-1000..=1000).contains(&score) {
        return Err(Error::invalid_argument(format!(
            "oom_score = {score} is out of range: use -1000 to 1000"
        )));
    }
    let path = "/proc/self/oom_score_adj";
    std::fs::write(path, score.to_string()).map_err(|e| {
        Error::failed_precondition(format!(
            "setting oom_score = {score} in {path}: {e} (lowering it needs CAP_SYS_RESOURCE)"
        ))
    })?;
    tracing::info!(score, "set the daemon's OOM score adjustment");
    Ok(())
}

/// Moves this process into cgroup `path` (e.g. `/crated`) in every
/// hierarchy; an empty path leaves it. Returns the cgroup directories
/// joined.
pub fn join_cgroup(path: &str) -> Result<Vec<PathBuf>, Error> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let joined = join_cgroup_at(Path::new(CGROUP_ROOT), path, std::process::id())?;
    tracing::info!(
        cgroup = path,
        hierarchies = joined.len(),
        "moved the daemon into its cgroup"
    );
    Ok(joined)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::with_source(
        crated_core::ErrorKind::FailedPrecondition,
        format_args!("{what} {}", path.display()),
        e,
    )
}

/// The hierarchies under `root`: `root` itself when it is cgroup v2's
/// unified mount, otherwise each v1 controller (and a hybrid's `unified`)
/// directory, symlinks such as `cpu -> cpu,cpuacct` left out.
fn hierarchies(root: &Path) -> Result<Vec<PathBuf>, Error> {
    if root.join("cgroup.controllers").exists() {
        return Ok(vec![root.to_path_buf()]);
    }
    let entries = std::fs::read_dir(root).map_err(|e| io_error("listing", root, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    out.sort();
    Ok(out)
}

/// [`join_cgroup`] for process `pid` with the hierarchies mounted under
/// `root`. New cpuset cgroups get their parent's `cpuset.cpus` and
/// `cpuset.mems` (cgroup v1 refuses processes in an empty cpuset).
pub(crate) fn join_cgroup_at(root: &Path, path: &str, pid: u32) -> Result<Vec<PathBuf>, Error> {
    let relative: PathBuf = Path::new(path)
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    if relative.as_os_str().is_empty() {
        return Err(Error::invalid_argument(format!(
            "[cgroup] path = {path:?} names no cgroup"
        )));
    }
    let mut joined = Vec::new();
    for hierarchy in hierarchies(root)? {
        let mut dir = hierarchy.clone();
        for part in relative.components() {
            let parent = dir.clone();
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(|e| io_error("creating cgroup", &dir, e))?;
            }
            for file in ["cpuset.cpus", "cpuset.mems"] {
                inherit(&parent, &dir, file)?;
            }
        }
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .map_err(|e| io_error(&format!("moving pid {pid} into"), &procs, e))?;
        joined.push(dir);
    }
    Ok(joined)
}

/// Copies `parent/file` into `dir/file` when the parent has a value and
/// the child's is empty or absent.
fn inherit(parent: &Path, dir: &Path, file: &str) -> Result<(), Error> {
    let Ok(value) = std::fs::read_to_string(parent.join(file)) else {
        return Ok(());
    };
    let own = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    if value.trim().is_empty() || !own.trim().is_empty() {
        return Ok(());
    }
    std::fs::write(dir.join(file), value.trim())
        .map_err(|e| io_error("writing", &dir.join(file), e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn touch(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn v2_joins_the_unified_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("cgroup.controllers"), "cpu memory");
        touch(&root.path().join("cgroup.procs"), "");
        let joined = join_cgroup_at(root.path(), "/system.slice/crated", 4242).unwrap();
        let dir = root.path().join("system.slice/crated");
        assert_eq!(joined, vec![dir.clone()]);
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.procs")).unwrap(),
            "4242"
        );
    }

    #[test]
    fn v1_and_hybrid_join_every_hierarchy_and_fill_cpusets() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for h in ["memory", "cpuset", "systemd", "unified"] {
            touch(&r.join(h).join("cgroup.procs"), "");
        }
        touch(&r.join("cpuset/cpuset.cpus"), "0-3\n");
        touch(&r.join("cpuset/cpuset.mems"), "0\n");
        std::os::unix::fs::symlink(r.join("memory"), r.join("memory-alias")).unwrap();
        let joined = join_cgroup_at(r, "crated", 7).unwrap();
        assert_eq!(joined.len(), 4, "{joined:?}");
        for h in ["memory", "cpuset", "systemd", "unified"] {
            assert_eq!(
                std::fs::read_to_string(r.join(h).join("crated/cgroup.procs")).unwrap(),
                "7",
                "{h}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(r.join("cpuset/crated/cpuset.cpus")).unwrap(),
            "0-3"
        );
        assert!(!r.join("memory/crated/cpuset.cpus").exists());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(apply_oom_score(1001).is_err());
        assert!(join_cgroup_at(Path::new("/nonexistent"), "/", 1).is_err());
        assert!(apply_oom_score(0).is_ok());
    }
}
