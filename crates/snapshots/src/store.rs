//! What every backend does the same way: the root layout, the metastore,
//! and the metadata-only operations (stat, update, walk).

use std::path::{Path, PathBuf};

use crated_core::Result;
use crated_core::snapshot::{Info, Usage};

use crate::fsutil::ensure_dir;
use crate::storage::MetaStore;

/// The metastore's file name in a snapshotter root. Not containerd's
/// `metadata.db`: that one is a bolt database this code cannot read.
pub const METADATA_FILE: &str = "metadata.redb";

/// A snapshotter root with its metastore.
pub(crate) struct Store {
    root: PathBuf,
    ms: MetaStore,
}

impl Store {
    /// Opens the root and its metastore, and makes each of `dirs` below
    /// it; what is created gets mode 0700, what exists is left as it is.
    pub fn open(root: &Path, dirs: &[&str]) -> Result<Self> {
        let paths = std::iter::once(root.to_path_buf()).chain(dirs.iter().map(|d| root.join(d)));
        for path in paths {
            if !path.is_dir() {
                ensure_dir(&path, 0o700)?;
            }
        }
        let ms = MetaStore::open(&root.join(METADATA_FILE))?;
        Ok(Store {
            root: root.to_path_buf(),
            ms,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The metastore.
    pub fn ms(&self) -> &MetaStore {
        &self.ms
    }

    /// The id and info of `key`, with `decorate` applied to the info.
    pub fn stat(&self, key: &str, decorate: impl Fn(&str, &mut Info)) -> Result<Info> {
        let (id, mut info, _) = self.ms.begin_read()?.info(key)?;
        decorate(&id, &mut info);
        Ok(info)
    }

    /// Updates the labels of `info.name` per `fieldpaths`.
    pub fn update(
        &self,
        info: &Info,
        fieldpaths: &[String],
        decorate: impl Fn(&str, &mut Info),
    ) -> Result<Info> {
        let tx = self.ms.begin_write()?;
        let mut updated = tx.update(info, fieldpaths)?;
        let (id, _, _) = tx.info(&info.name)?;
        tx.commit()?;
        decorate(&id, &mut updated);
        Ok(updated)
    }

    /// Calls `f` with every snapshot. The infos are read first, so `f` may
    /// call back into the snapshotter, even to change it.
    pub fn walk(
        &self,
        f: &mut dyn FnMut(&Info) -> Result<()>,
        decorate: impl Fn(&str, &mut Info),
    ) -> Result<()> {
        let all = self.ms.begin_read()?.all()?;
        for (id, mut info) in all {
            decorate(&id, &mut info);
            f(&info)?;
        }
        Ok(())
    }

    /// The usage of `key`: for an active snapshot what `measure` finds in
    /// its directory (given its id and parent), else what was recorded at
    /// commit.
    pub fn usage(
        &self,
        key: &str,
        measure: impl FnOnce(&str, &str) -> Result<Usage>,
    ) -> Result<Usage> {
        let (id, info, usage) = self.ms.begin_read()?.info(key)?;
        match info.kind {
            crated_core::snapshot::Kind::Active => measure(&id, &info.parent),
            _ => Ok(usage),
        }
    }
}

/// No decoration.
pub(crate) fn plain(_: &str, _: &mut Info) {}
