//! Pod network namespaces pinned by a bind mount.
//!
//! A namespace is created on a short-lived thread that unshares its network
//! namespace and bind-mounts `/proc/self/task/<tid>/ns/net` onto an empty
//! file; the mount keeps the namespace alive after the thread ends, and the
//! path is what CNI plugins and the OCI runtime are given. Removing the pin
//! (a lazy unmount and an unlink) is idempotent, so a teardown after a crash
//! can repeat it safely.

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use crate::error::{Error, Result};

/// A pinned network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNs {
    path: PathBuf,
}

impl NetNs {
    /// Creates a new network namespace pinned at `dir/name`. `dir` is
    /// created (mode 0700) if missing; `name` must be a plain file name and
    /// must not exist yet.
    pub fn create(dir: &Path, name: &str) -> Result<NetNs> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::InvalidArgument(format!(
                "network namespace name {name:?} must be a plain file name"
            )));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::Io {
                what: "creating network namespace directory",
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&path)
            .map_err(|source| Error::Io {
                what: "creating network namespace pin",
                path: path.clone(),
                source,
            })?;
        let target = path.clone();
        let pinned = std::thread::Builder::new()
            .name("netns-create".into())
            .spawn(move || pin_new_namespace(&target))
            .map_err(|source| Error::Io {
                what: "starting a thread to create network namespace",
                path: path.clone(),
                source,
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(Error::InvalidArgument(
                    "the thread creating the network namespace panicked".into(),
                ))
            });
        match pinned {
            Ok(()) => Ok(NetNs { path }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// A namespace pinned earlier at `path` (for example one recorded in a
    /// sandbox's metadata before a restart). Nothing is checked.
    pub fn at(path: impl Into<PathBuf>) -> NetNs {
        NetNs { path: path.into() }
    }

    /// The pin path, given to CNI plugins as `CNI_NETNS` and to the runtime
    /// as the pod's network namespace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the pin still holds a network namespace.
    pub fn exists(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() == 0) && is_nsfs(&self.path)
    }

    /// Unmounts and removes the pin. Removing a pin that is not mounted or
    /// not there any more succeeds.
    pub fn remove(&self) -> Result<()> {
        match umount2(&self.path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(source) => {
                return Err(Error::Sys {
                    what: "unmounting network namespace",
                    path: self.path.clone(),
                    source,
                });
            }
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                what: "removing network namespace pin",
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// Lists the pins under `dir` (for reconciling pins that no sandbox owns).
/// A missing directory has none.
pub fn list(dir: &Path) -> Result<Vec<NetNs>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: "listing network namespaces in",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut pins = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            what: "listing network namespaces in",
            path: dir.to_path_buf(),
            source,
        })?;
        pins.push(NetNs::at(entry.path()));
    }
    pins.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(pins)
}

/// Runs on a thread of its own: moves the thread into a new network
/// namespace and bind-mounts it onto `target`.
fn pin_new_namespace(target: &Path) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|source| Error::Sys {
        what: "unsharing a network namespace for",
        path: target.to_path_buf(),
        source,
    })?;
    let own = PathBuf::from(format!("/proc/self/task/{}/ns/net", nix::unistd::gettid()));
    mount(
        Some(own.as_path()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|source| Error::Sys {
        what: "pinning network namespace at",
        path: target.to_path_buf(),
        source,
    })
}

/// Whether `path` is a namespace file (nsfs), i.e. the pin is mounted.
fn is_nsfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_are_refused() {
        let dir = std::env::temp_dir();
        for bad in ["", "a/b", "..", "."] {
            let err = NetNs::create(&dir, bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    #[ignore = "requires root"]
    fn removing_a_missing_pin_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let ns = NetNs::at(dir.path().join("gone"));
        assert!(!ns.exists());
        ns.remove().unwrap();
    }

    #[test]
    fn listing_a_missing_directory_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(&dir.path().join("none")).unwrap().is_empty());
    }
}
