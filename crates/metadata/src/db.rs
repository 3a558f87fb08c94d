//! The database handle and its tables.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use crated_core::{Error, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DbError;
use crate::keys;

pub(crate) const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
pub(crate) const CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("content");
pub(crate) const INGESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("ingests");
pub(crate) const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");
pub(crate) const LEASE_RESOURCES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("lease_resources");
pub(crate) const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
pub(crate) const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
pub(crate) const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
pub(crate) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
pub(crate) const SANDBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandboxes");

/// Tables whose rows are keyed by namespace first and which make a
/// namespace non-empty, with the name containerd reports for them.
pub(crate) const NAMESPACED_TABLES: [(TableDefinition<&str, &[u8]>, &str); 7] = [
    (IMAGES, "images"),
    (CONTENT, "blobs"),
    (CONTAINERS, "containers"),
    (SNAPSHOTS, "snapshots"),
    (LEASES, "leases"),
    (INGESTS, "ingests"),
    (SANDBOXES, "sandboxes"),
];

/// The metadata database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Database>,
}

pub(crate) fn db_err(e: impl Into<redb::Error>) -> Error {
    DbError::Database { source: e.into() }.into()
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| DbError::Encode { source }.into())
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| {
        DbError::Decode {
            key: key.replace('\0', "/"),
            source,
        }
        .into()
    })
}

impl Db {
    /// Opens (creating if needed) the database file at `path` and makes sure
    /// every table exists.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::File {
                what: "creating metadata directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = Database::create(path).map_err(|source| DbError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // Labels and specs in the database are for the daemon alone.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| DbError::File {
                what: "setting permissions of metadata database",
                path: path.to_path_buf(),
                source,
            },
        )?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            for table in [NAMESPACES, LEASE_RESOURCES] {
                txn.open_table(table).map_err(db_err)?;
            }
            txn.open_table(SEQUENCES).map_err(db_err)?;
            for (table, _) in NAMESPACED_TABLES {
                txn.open_table(table).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)?;
        Ok(Db {
            inner: Arc::new(db),
        })
    }

    /// Runs `f` in a write transaction and commits it when `f` succeeds.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let txn = self.inner.begin_write().map_err(db_err)?;
        let out = f(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(out)
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.inner.begin_read().map_err(db_err)?;
        f(&txn)
    }

    /// Whether the namespace holds any rows, and in which tables.
    pub(crate) fn namespace_contents(
        txn: &redb::WriteTransaction,
        ns: &str,
    ) -> Result<Vec<&'static str>> {
        let p = keys::prefix(&[ns]);
        let end = keys::prefix_end(&p);
        let mut found = Vec::new();
        for (def, name) in NAMESPACED_TABLES {
            let table = txn.open_table(def).map_err(db_err)?;
            let mut range = table.range(p.as_str()..end.as_str()).map_err(db_err)?;
            if range.next().is_some() {
                found.push(name);
            }
        }
        Ok(found)
    }
}

/// Reads every row of `def` whose key starts with `prefix`, decoded.
pub(crate) fn scan<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
) -> Result<Vec<(String, T)>> {
    let end = keys::prefix_end(prefix);
    let mut out = Vec::new();
    for row in table.range(prefix..end.as_str()).map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        let key = k.value().to_string();
        let value = decode(&key, v.value())?;
        out.push((key, value));
    }
    Ok(out)
}

/// Reads one row of a table, decoded.
pub(crate) fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>> {
    match table.get(key).map_err(db_err)? {
        Some(v) => Ok(Some(decode(key, v.value())?)),
        None => Ok(None),
    }
}
