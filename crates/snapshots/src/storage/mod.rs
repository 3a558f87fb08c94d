//! The metastore: a small redb database in each snapshotter's root that
//! holds, per key, the snapshot's id, kind, parent, labels, timestamps and
//! committed usage — containerd's `snapshots/storage`, with its rules.
//!
//! Ids come from a counter, so directories are `snapshots/<id>`. A child
//! link `(parent id, child id) -> child key` makes "has children" one range
//! lookup. Every change happens in one write transaction; backends do
//! their filesystem work inside it and commit last, so a failure or crash
//! before the commit leaves no record (and at most a directory that
//! cleanup removes).

mod read;
mod record;
mod write;

use std::collections::HashMap;
use std::path::Path;

use crated_core::snapshot::{Info, Kind, Usage};
use crated_core::{Error, Result};
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::errors::{StorageError, db_error};

pub(crate) const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
pub(crate) const PARENTS: TableDefinition<(u64, u64), &str> = TableDefinition::new("parents");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const NEXT_ID: &str = "next_id";

/// What a backend needs to build an active or view snapshot's mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The snapshot's id.
    pub id: String,
    /// Active or view.
    pub kind: Kind,
    /// Ids of the parent chain, nearest first.
    pub parent_ids: Vec<String>,
}

/// The metadata database of one snapshotter.
pub(crate) struct MetaStore {
    db: Database,
}

impl MetaStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|source| StorageError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let txn = db.begin_write().map_err(db_error)?;
        txn.open_table(SNAPSHOTS).map_err(db_error)?;
        txn.open_table(PARENTS).map_err(db_error)?;
        txn.open_table(META).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        Ok(MetaStore { db })
    }

    /// A read transaction.
    pub fn begin_read(&self) -> Result<ReadTxn> {
        Ok(ReadTxn(self.db.begin_read().map_err(db_error)?))
    }

    /// A write transaction; only one exists at a time (others wait). It is
    /// aborted when dropped without [`WriteTxn::commit`].
    pub fn begin_write(&self) -> Result<WriteTxn> {
        Ok(WriteTxn(self.db.begin_write().map_err(db_error)?))
    }
}

/// A consistent read of the metastore.
pub(crate) struct ReadTxn(redb::ReadTransaction);

impl ReadTxn {
    fn table(&self) -> Result<redb::ReadOnlyTable<&'static str, &'static [u8]>> {
        self.0.open_table(SNAPSHOTS).map_err(db_error)
    }

    /// Id, info and recorded usage of `key`; `NotFound` if absent.
    pub fn info(&self, key: &str) -> Result<(String, Info, Usage)> {
        read::info(&self.table()?, key)
    }

    /// The active or view snapshot `key`; `FailedPrecondition` for a
    /// committed one.
    pub fn snapshot(&self, key: &str) -> Result<Snapshot> {
        read::snapshot(&self.table()?, key)
    }

    /// Every snapshot's id and info.
    pub fn all(&self) -> Result<Vec<(String, Info)>> {
        read::all(&self.table()?)
    }
}

/// A change to the metastore, aborted unless committed.
pub(crate) struct WriteTxn(redb::WriteTransaction);

impl WriteTxn {
    /// Makes the changes durable.
    pub fn commit(self) -> Result<()> {
        self.0.commit().map_err(db_error)
    }

    /// Id, info and recorded usage of `key`; `NotFound` if absent.
    pub fn info(&self, key: &str) -> Result<(String, Info, Usage)> {
        read::info(&self.0.open_table(SNAPSHOTS).map_err(db_error)?, key)
    }

    /// The id of active snapshot `key`: `NotFound` if absent,
    /// `FailedPrecondition` if it is not active.
    pub fn active_id(&self, key: &str) -> Result<String> {
        let (id, info, _) = self.info(key)?;
        if info.kind != Kind::Active {
            return Err(Error::failed_precondition(format!(
                "snapshot {key:?} is {}, not active",
                info.kind.as_str()
            )));
        }
        Ok(id)
    }

    /// Every id with the kind of its snapshot.
    pub fn ids(&self) -> Result<HashMap<String, Kind>> {
        read::ids(&self.0.open_table(SNAPSHOTS).map_err(db_error)?)
    }
}

#[cfg(test)]
mod tests;
