//! Task bundles: `<state>/<ns>/<id>` holding `config.json`, `rootfs/`, a
//! `work` link to `<root>/<ns>/<id>`, and the shim's `log` FIFO.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crated_core::{Error, ErrorKind, Result, identifiers};

/// The mode of bundle and work directories (as containerd's).
pub const BUNDLE_MODE: u32 = 0o700;
/// The mode of a bundle's `config.json`.
pub const SPEC_MODE: u32 = 0o600;
/// The file that marks a bundle whose task the shim created.
const CREATED_MARKER: &str = "task-created";

/// A task bundle on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The task (container) id.
    pub id: String,
    /// The namespace.
    pub namespace: String,
    /// The bundle directory, the shim's working directory.
    pub path: PathBuf,
    /// The task's persistent work directory.
    pub work: PathBuf,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::with_source(
        ErrorKind::Internal,
        format_args!("{what} {}", path.display()),
        e,
    )
}

impl Bundle {
    /// Creates a fresh bundle for `id` with the OCI `spec` as `config.json`.
    /// A leftover directory from an earlier task with the same id is replaced.
    pub fn create(root: &Path, state: &Path, ns: &str, id: &str, spec: &[u8]) -> Result<Bundle> {
        identifiers::validate(id).map_err(|e| e.context(format!("invalid task id {id}")))?;
        let bundle = Bundle::at(root, state, ns, id);
        if bundle.path.exists() {
            return Err(Error::already_exists(format!(
                "bundle {}",
                bundle.path.display()
            )));
        }
        let created = bundle.populate(spec);
        if created.is_err() {
            let _ = bundle.delete();
        }
        created.map(|_| bundle)
    }

    /// The bundle of `ns`/`id` without touching the disk.
    pub fn at(root: &Path, state: &Path, ns: &str, id: &str) -> Bundle {
        Bundle {
            id: id.to_string(),
            namespace: ns.to_string(),
            path: state.join(ns).join(id),
            work: root.join(ns).join(id),
        }
    }

    fn populate(&self, spec: &[u8]) -> Result<()> {
        if let Some(parent) = self.path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err("creating", parent, e))?;
        }
        fs::create_dir(&self.path).map_err(|e| io_err("creating bundle", &self.path, e))?;
        // The spec carries the container's environment (secrets): only
        // root may enter the bundle or read it (CVE-2021-41103).
        fs::set_permissions(&self.path, fs::Permissions::from_mode(BUNDLE_MODE))
            .map_err(|e| io_err("setting permissions of", &self.path, e))?;
        let rootfs = self.path.join("rootfs");
        fs::create_dir(&rootfs).map_err(|e| io_err("creating", &rootfs, e))?;
        if self.work.exists() {
            fs::remove_dir_all(&self.work)
                .map_err(|e| io_err("removing stale work dir", &self.work, e))?;
        }
        fs::create_dir_all(&self.work).map_err(|e| io_err("creating work dir", &self.work, e))?;
        fs::set_permissions(&self.work, fs::Permissions::from_mode(BUNDLE_MODE))
            .map_err(|e| io_err("setting permissions of", &self.work, e))?;
        let link = self.path.join("work");
        std::os::unix::fs::symlink(&self.work, &link).map_err(|e| io_err("linking", &link, e))?;
        let config = self.path.join("config.json");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SPEC_MODE)
            .open(&config)
            .and_then(|mut file| file.write_all(spec))
            .map_err(|e| io_err("writing", &config, e))?;
        Ok(())
    }

    /// Records that the shim created the task, so a recovery can tell a
    /// task from a Create interrupted by a crash.
    pub fn mark_created(&self) -> Result<()> {
        let marker = self.path.join(CREATED_MARKER);
        fs::write(&marker, b"").map_err(|e| io_err("writing", &marker, e))
    }

    /// Whether [`Bundle::mark_created`] ran for this bundle.
    pub fn is_created(&self) -> bool {
        self.path.join(CREATED_MARKER).exists()
    }

    /// The pid the shim wrote to `shim.pid`, if any.
    pub fn shim_pid(&self) -> Option<i32> {
        fs::read_to_string(self.path.join("shim.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&pid| pid > 1)
    }

    /// The path of the shim's log FIFO.
    pub fn log_fifo(&self) -> PathBuf {
        self.path.join("log")
    }

    /// The rootfs directory the shim mounts into.
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// Removes the bundle and its work directory. Mounts left on `rootfs`
    /// are detached first so nothing below them is removed.
    pub fn delete(&self) -> Result<()> {
        let rootfs = self.rootfs();
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
        for dir in [&self.path, &self.work] {
            match fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing", dir, e)),
            }
        }
        Ok(())
    }

    /// Every bundle under `state`, as `(namespace, id)`.
    pub fn list(state: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(namespaces) = fs::read_dir(state) else {
            return out;
        };
        for ns in namespaces.flatten() {
            let Ok(ids) = fs::read_dir(ns.path()) else {
                continue;
            };
            for id in ids.flatten() {
                if id.path().is_dir() {
                    out.push((
                        ns.file_name().to_string_lossy().into_owned(),
                        id.file_name().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_layout_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("root"), dir.path().join("state"));
        let b = Bundle::create(&root, &state, "ns", "c1", b"{}").unwrap();
        assert!(b.rootfs().is_dir());
        assert_eq!(fs::read(b.path.join("config.json")).unwrap(), b"{}");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&b.path), BUNDLE_MODE);
        assert_eq!(mode(&b.work), BUNDLE_MODE);
        assert_eq!(mode(&b.path.join("config.json")), SPEC_MODE);
        assert!(!b.is_created());
        b.mark_created().unwrap();
        assert!(b.is_created());
        assert_eq!(fs::read_link(b.path.join("work")).unwrap(), b.work);
        assert_eq!(
            Bundle::list(&state),
            vec![("ns".to_string(), "c1".to_string())]
        );
        assert!(Bundle::create(&root, &state, "ns", "c1", b"{}").is_err());
        assert!(Bundle::create(&root, &state, "ns", "bad/id", b"{}").is_err());
        b.delete().unwrap();
        assert!(!b.path.exists() && !b.work.exists());
    }
}
