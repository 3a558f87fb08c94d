//! The btrfs snapshotter (containerd's `btrfs`): every snapshot is a btrfs
//! subvolume — `active/<id>`, `view/<id>` or `snapshots/<id>` (committed,
//! read-only) — made by snapshotting the parent's subvolume, so nothing is
//! copied. Mounts are `btrfs` mounts of the root's device with `subvolid=`.

mod subvol;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind, Snapshotter, Usage};
use crated_core::{Error, Result};
use nix::sys::statfs::{BTRFS_SUPER_MAGIC, statfs};

use crate::errors::{errno_error, io_error};
use crate::fsutil::{diff_usage, disk_usage, remove_all, unreferenced};
use crate::store::{Store, plain};
use subvol::{BtrfsCli, Subvolumes};

/// The inode number of every subvolume's root directory.
const SUBVOLUME_ROOT_INO: u64 = 256;

/// Checks that `root` (or, if it does not exist yet, its nearest existing
/// ancestor) is on btrfs (statfs type `BTRFS_SUPER_MAGIC`). The error says
/// why not; the plugin reports it as the reason it skipped.
pub fn supported(root: &Path) -> Result<()> {
    let existing = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let st = statfs(existing).map_err(|e| errno_error("statfs of", existing, e))?;
    if st.filesystem_type() != BTRFS_SUPER_MAGIC {
        return Err(Error::failed_precondition(format!(
            "{} is not on a btrfs filesystem (filesystem type {:#x}); the btrfs snapshotter needs its root on btrfs",
            root.display(),
            st.filesystem_type().0
        )));
    }
    Ok(())
}

/// The btrfs snapshotter.
pub struct Btrfs {
    store: Store,
    device: String,
    subvols: Box<dyn Subvolumes>,
}

fn kind_dir(kind: Kind) -> &'static str {
    match kind {
        Kind::Active => "active",
        Kind::View => "view",
        _ => "snapshots",
    }
}

impl Btrfs {
    /// Opens the snapshotter in `root`, which must be on btrfs: creates it
    /// (mode 0700), `active/`, `view/`, `snapshots/` and the metastore, and
    /// finds the device to mount subvolumes from.
    pub fn new(root: &Path) -> Result<Self> {
        supported(root)?;
        fs::create_dir_all(root).map_err(|e| io_error("creating directory", root, e))?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("setting permissions of", root, e))?;
        let device = crated_mount::lookup(root).map_err(Error::from)?.source;
        let store = Store::open(root, &["active", "view", "snapshots"])?;
        Ok(Btrfs {
            store,
            device,
            subvols: Box::new(BtrfsCli::default()),
        })
    }

    /// The snapshotter root.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The device subvolumes are mounted from.
    pub fn device(&self) -> &str {
        &self.device
    }

    fn dir(&self, kind: Kind, name: &str) -> PathBuf {
        self.root().join(kind_dir(kind)).join(name)
    }

    fn mounts(&self, dir: &Path, kind: Kind) -> Result<Vec<Mount>> {
        let mut options = vec![format!("subvolid={}", self.subvols.id(dir)?)];
        if kind != Kind::Active {
            options.push("ro".into());
        }
        Ok(vec![Mount {
            mount_type: "btrfs".into(),
            source: self.device.clone(),
            target: String::new(),
            options,
        }])
    }

    /// Deletes whatever is at `path`: a subvolume, or a plain directory.
    fn delete_any(&self, path: &Path) -> Result<()> {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("reading", path, e)),
            Ok(m) if m.is_dir() && m.ino() == SUBVOLUME_ROOT_INO => self.subvols.delete(path),
            Ok(_) => remove_all(path),
        }
    }

    fn delete_logged(&self, path: &Path) {
        if let Err(e) = self.delete_any(path) {
            tracing::warn!(error = %e, "deleting subvolume; cleanup will retry");
        }
    }

    fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let tx = self.store.ms().begin_write()?;
        let s = tx.create(kind, key, parent, labels)?;
        let target = self.dir(kind, &s.id);
        let tmp = self.dir(kind, &format!("new-{}", s.id));
        // Leftovers of a crash under this fresh id.
        self.delete_any(&tmp)?;
        self.delete_any(&target)?;
        match s.parent_ids.first() {
            None => self.subvols.create(&tmp)?,
            Some(pid) => {
                let source = self.dir(Kind::Committed, pid);
                self.subvols.snapshot(&source, &tmp, kind == Kind::View)?;
            }
        }
        if let Err(e) = fs::rename(&tmp, &target) {
            self.delete_logged(&tmp);
            return Err(io_error(
                &format!("renaming {} to", tmp.display()),
                &target,
                e,
            ));
        }
        let mounts = match self.mounts(&target, kind) {
            Ok(m) => m,
            Err(e) => {
                self.delete_logged(&target);
                return Err(e);
            }
        };
        if let Err(e) = tx.commit() {
            self.delete_logged(&target);
            return Err(e);
        }
        Ok(mounts)
    }

    fn active_usage(&self, id: &str, parent: &str) -> Result<Usage> {
        let dir = self.dir(Kind::Active, id);
        if parent.is_empty() {
            return disk_usage(&dir);
        }
        let (pid, _, _) = self.store.ms().begin_read()?.info(parent)?;
        diff_usage(&self.dir(Kind::Committed, &pid), &dir)
    }
}

impl Snapshotter for Btrfs {
    fn stat(&self, key: &str) -> Result<Info> {
        self.store.stat(key, plain)
    }

    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.store.update(&info, fieldpaths, plain)
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        self.store
            .usage(key, |id, parent| self.active_usage(id, parent))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let s = self.store.ms().begin_read()?.snapshot(key)?;
        self.mounts(&self.dir(s.kind, &s.id), s.kind)
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

    /// Snapshots `active/<id>` read-only as `snapshots/<id>` and deletes
    /// the active subvolume once the metastore has committed.
    fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        let usage = self.usage(key)?;
        let tx = self.store.ms().begin_write()?;
        let id = tx.commit_active(key, name, usage, labels)?;
        let source = self.dir(Kind::Active, &id);
        let target = self.dir(Kind::Committed, &id);
        self.delete_any(&target)?;
        self.subvols.snapshot(&source, &target, true)?;
        if let Err(e) = tx.commit() {
            self.delete_logged(&target);
            return Err(e);
        }
        self.delete_logged(&source);
        Ok(())
    }

    /// Renames the subvolume away inside the transaction (back if the
    /// commit fails), then deletes it.
    fn remove(&self, key: &str) -> Result<()> {
        let tx = self.store.ms().begin_write()?;
        let (id, kind) = tx.remove(key)?;
        let source = self.dir(kind, &id);
        let removed = self.dir(kind, &format!("rm-{id}"));
        self.delete_any(&removed)?;
        let moved = match fs::rename(&source, &removed) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(io_error(
                    &format!("renaming {} to", source.display()),
                    &removed,
                    e,
                ));
            }
        };
        if let Err(e) = tx.commit() {
            if moved && let Err(back) = fs::rename(&removed, &source) {
                tracing::error!(path = %removed.display(), error = %back, "renaming removed subvolume back");
            }
            return Err(e);
        }
        if moved {
            self.delete_logged(&removed);
        }
        Ok(())
    }

    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        self.store.walk(f, plain)
    }

    fn cleanup(&self) -> Result<()> {
        let stale = {
            let tx = self.store.ms().begin_write()?;
            let ids = tx.ids()?;
            let mut stale = Vec::new();
            for kind in [Kind::Active, Kind::View, Kind::Committed] {
                let dir = self.root().join(kind_dir(kind));
                stale.extend(unreferenced(&dir, |name| ids.get(name) == Some(&kind))?);
            }
            stale
        };
        for path in stale {
            self.delete_any(&path)?;
        }
        Ok(())
    }
}
