//! The native snapshotter (containerd's `native`): every active snapshot
//! is a full copy of its parent in `snapshots/<id>/`; mounts are bind
//! mounts. Works on any filesystem, at the cost of copying.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crated_core::Result;
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind, Snapshotter, Usage};

use crate::errors::io_error;
use crate::fsutil::{TempDir, copy_dir, disk_usage, remove_all, unreferenced};
use crate::storage::Snapshot;
use crate::store::{Store, plain};

/// The native (copying) snapshotter.
pub struct Native {
    store: Store,
}

impl Native {
    /// Opens the snapshotter in `root`, creating the root (mode 0700), its
    /// metastore and `snapshots/`.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(Native {
            store: Store::open(root, &["snapshots"])?,
        })
    }

    /// The snapshotter root.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root().join("snapshots").join(id)
    }

    /// A bind mount of the snapshot's own directory, or for a view of a
    /// parent, of the parent's (views get no copy).
    fn mounts(&self, s: &Snapshot) -> Vec<Mount> {
        let source = match (s.kind, s.parent_ids.first()) {
            (Kind::View, Some(parent)) => self.dir(parent),
            _ => self.dir(&s.id),
        };
        let ro = if s.kind == Kind::View { "ro" } else { "rw" };
        vec![Mount {
            mount_type: "bind".into(),
            source: source.display().to_string(),
            target: String::new(),
            options: vec!["rbind".into(), ro.into()],
        }]
    }

    fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let tx = self.store.ms().begin_write()?;
        let td = if kind == Kind::Active || parent.is_empty() {
            Some(TempDir::new(&self.root().join("snapshots"), "new-", 0o755)?)
        } else {
            None
        };
        let s = tx.create(kind, key, parent, labels)?;
        let mut path = None;
        if let Some(td) = td {
            if let Some(parent_id) = s.parent_ids.first() {
                copy_dir(&self.dir(parent_id), td.path())?;
            }
            let dest = self.dir(&s.id);
            td.rename_into(&dest)?;
            path = Some(dest);
        }
        if let Err(e) = tx.commit() {
            if let Some(path) = path {
                let _ = remove_all(&path);
            }
            return Err(e);
        }
        Ok(self.mounts(&s))
    }
}

impl Snapshotter for Native {
    fn stat(&self, key: &str) -> Result<Info> {
        self.store.stat(key, plain)
    }

    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.store.update(&info, fieldpaths, plain)
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        self.store.usage(key, |id, _| disk_usage(&self.dir(id)))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let s = self.store.ms().begin_read()?.snapshot(key)?;
        Ok(self.mounts(&s))
    }

    fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.create(Kind::Active, key, parent, labels)
    }

    fn view(&self, key: &str, parent: &str, labels: HashMap<String, String>) -> Result<Vec<Mount>> {
        self.create(Kind::View, key, parent, labels)
    }

    fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        let tx = self.store.ms().begin_write()?;
        let id = tx.active_id(key)?;
        let usage = disk_usage(&self.dir(&id))?;
        tx.commit_active(key, name, usage, labels)?;
        tx.commit()
    }

    /// Removes `key`: its directory is renamed away inside the transaction
    /// (and renamed back if the commit fails), then deleted.
    fn remove(&self, key: &str) -> Result<()> {
        let tx = self.store.ms().begin_write()?;
        let (id, _) = tx.remove(key)?;
        let path = self.dir(&id);
        let renamed = self.dir(&format!("rm-{id}"));
        let moved = match fs::rename(&path, &renamed) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(io_error(
                    &format!("renaming {} to", path.display()),
                    &renamed,
                    e,
                ));
            }
        };
        if let Err(e) = tx.commit() {
            if moved && let Err(back) = fs::rename(&renamed, &path) {
                tracing::error!(path = %renamed.display(), error = %back, "renaming removed snapshot back");
            }
            return Err(e);
        }
        if moved && let Err(e) = remove_all(&renamed) {
            tracing::warn!(error = %e, "removing snapshot directory; cleanup will retry");
        }
        Ok(())
    }

    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        self.store.walk(f, plain)
    }

    fn cleanup(&self) -> Result<()> {
        let dirs = {
            let tx = self.store.ms().begin_write()?;
            let ids = tx.ids()?;
            unreferenced(&self.root().join("snapshots"), |name| {
                ids.contains_key(name)
            })?
        };
        for dir in dirs {
            remove_all(&dir)?;
        }
        Ok(())
    }
}
