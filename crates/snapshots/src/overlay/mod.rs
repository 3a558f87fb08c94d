//! The overlayfs snapshotter (containerd's `overlayfs`): each snapshot is a
//! directory `snapshots/<id>/` with `fs/` (the upper layer) and, for active
//! snapshots, `work/`; mounts stack the parents' `fs/` directories as lower
//! layers.

mod config;
mod mounts;
mod probe;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, lchown};
use std::path::{Path, PathBuf};

use crated_core::Result;
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind, Snapshotter, Usage};

pub use config::OverlayConfig;
pub use probe::{needs_userxattr, running_in_user_ns, supported, supports_d_type, supports_index};

use crate::errors::io_error;
use crate::fsutil::{TempDir, disk_usage, make_dir, remove_all, unreferenced};
use crate::storage::{Snapshot, WriteTxn};
use crate::store::Store;

/// The label that carries a snapshot's upper directory when
/// `upperdir_label` is set.
pub const UPPERDIR_LABEL: &str = "containerd.io/snapshot/overlay.upperdir";

/// The overlayfs snapshotter.
pub struct Overlay {
    store: Store,
    config: OverlayConfig,
    options: Vec<String>,
}

impl Overlay {
    /// Opens the snapshotter in `config.root(plugin_root)`, creating the
    /// root (mode 0700), its metastore and `snapshots/`. Refuses a
    /// filesystem without `d_type`. It does not mount anything: call
    /// [`supported`] first to know whether overlay mounts will work there.
    pub fn new(plugin_root: &Path, config: OverlayConfig) -> Result<Self> {
        let root = config.root(plugin_root);
        let store = Store::open(&root, &["snapshots"])?;
        if !supports_d_type(&root)? {
            return Err(crated_core::Error::failed_precondition(format!(
                "{} does not support d_type; if the backing filesystem is xfs, reformat it with ftype=1",
                root.display()
            )));
        }
        let options = overlay_options(
            &config.mount_options,
            needs_userxattr(&root),
            supports_index(),
        );
        Ok(Overlay {
            store,
            config,
            options,
        })
    }

    /// The snapshotter root.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The options every overlay mount starts with (`index=off`,
    /// `userxattr` as the kernel needs, then the configured ones).
    pub fn mount_options(&self) -> &[String] {
        &self.options
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.root().join("snapshots")
    }

    fn upper(&self, id: &str) -> String {
        mounts::snapshot_path(self.root(), id, "fs")
    }

    fn mounts(&self, s: &Snapshot) -> Vec<Mount> {
        mounts::mounts(
            s,
            |id| self.upper(id),
            |id| mounts::snapshot_path(self.root(), id, "work"),
            &self.options,
        )
    }

    fn decorate(&self) -> impl Fn(&str, &mut Info) + '_ {
        move |id, info| {
            if self.config.upperdir_label {
                info.labels.insert(UPPERDIR_LABEL.into(), self.upper(id));
            }
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
        let td = TempDir::new(&self.snapshots_dir(), "new-", 0o700)?;
        let fs_dir = td.path().join("fs");
        make_dir(&fs_dir, 0o755)?;
        if kind == Kind::Active {
            make_dir(&td.path().join("work"), 0o711)?;
        }
        let s = tx.create(kind, key, parent, labels)?;
        if let Some(parent_id) = s.parent_ids.first() {
            let upper = self.upper(parent_id);
            let st = fs::metadata(&upper)
                .map_err(|e| io_error("reading parent", Path::new(&upper), e))?;
            lchown(&fs_dir, Some(st.uid()), Some(st.gid()))
                .map_err(|e| io_error("changing owner of", &fs_dir, e))?;
        }
        let path = self.snapshots_dir().join(&s.id);
        td.rename_into(&path)?;
        if let Err(e) = tx.commit() {
            let _ = remove_all(&path);
            return Err(e);
        }
        Ok(self.mounts(&s))
    }

    /// Directories in `snapshots/` of no snapshot in `tx`.
    fn cleanup_dirs(&self, tx: &WriteTxn) -> Result<Vec<PathBuf>> {
        let ids = tx.ids()?;
        unreferenced(&self.snapshots_dir(), |name| ids.contains_key(name))
    }
}

/// The leading options of overlay mounts: `userxattr` and `index=off` when
/// wanted and not configured otherwise, then the configured ones.
fn overlay_options(configured: &[String], userxattr: bool, index: bool) -> Vec<String> {
    let has = |key: &str| {
        configured
            .iter()
            .any(|o| o == key || o.starts_with(&format!("{key}=")))
    };
    let mut out = Vec::new();
    if userxattr && !has("userxattr") {
        out.push("userxattr".to_owned());
    }
    if index && !has("index") {
        out.push("index=off".to_owned());
    }
    out.extend(configured.iter().cloned());
    out
}

fn remove_logged(dirs: &[PathBuf]) {
    for dir in dirs {
        if let Err(e) = remove_all(dir) {
            tracing::warn!(error = %e, "removing snapshot directory");
        }
    }
}

impl Snapshotter for Overlay {
    fn stat(&self, key: &str) -> Result<Info> {
        self.store.stat(key, self.decorate())
    }

    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.store.update(&info, fieldpaths, self.decorate())
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        self.store
            .usage(key, |id, _| disk_usage(Path::new(&self.upper(id))))
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
        let usage = disk_usage(Path::new(&self.upper(&id)))?;
        tx.commit_active(key, name, usage, labels)?;
        tx.commit()
    }

    fn remove(&self, key: &str) -> Result<()> {
        let tx = self.store.ms().begin_write()?;
        tx.remove(key)?;
        let dirs = if self.config.sync_remove {
            self.cleanup_dirs(&tx)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        remove_logged(&dirs);
        Ok(())
    }

    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        self.store.walk(f, self.decorate())
    }

    fn cleanup(&self) -> Result<()> {
        let dirs = {
            let tx = self.store.ms().begin_write()?;
            self.cleanup_dirs(&tx)?
        };
        remove_logged(&dirs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_options_replace_probed_ones() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            overlay_options(&none, true, true),
            vec!["userxattr", "index=off"]
        );
        let conf = vec!["index=on".to_string(), "volatile".to_string()];
        assert_eq!(
            overlay_options(&conf, false, true),
            vec!["index=on", "volatile"]
        );
        assert!(overlay_options(&none, false, false).is_empty());
    }
}
