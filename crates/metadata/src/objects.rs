//! Generic per-namespace object tables (images, containers): create, get,
//! list, replace and delete of serde records keyed by `ns\0id`.

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crated_core::{Error, Result};

use crate::db::{self, Db, db_err, encode};
use crate::keys;
use crate::namespaces;

/// One kind of namespaced object: its table and the noun errors use.
#[derive(Clone, Copy)]
pub(crate) struct ObjectTable {
    pub table: TableDefinition<'static, &'static str, &'static [u8]>,
    pub noun: &'static str,
}

impl ObjectTable {
    fn not_found(&self, id: &str) -> Error {
        Error::not_found(format!("{} {id:?}", self.noun))
    }

    /// Inserts a new object; `AlreadyExists` if `id` is taken.
    pub fn create<T: Serialize>(&self, db: &Db, ns: &str, id: &str, value: &T) -> Result<()> {
        db.write(|txn| {
            namespaces::ensure(txn, ns)?;
            let mut table = txn.open_table(self.table).map_err(db_err)?;
            let k = keys::key(&[ns, id]);
            if table.get(k.as_str()).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("{} {id:?}", self.noun)));
            }
            table
                .insert(k.as_str(), encode(value)?.as_slice())
                .map_err(db_err)?;
            Ok(())
        })
    }

    /// Reads one object; `NotFound` if absent.
    pub fn get<T: DeserializeOwned>(&self, db: &Db, ns: &str, id: &str) -> Result<T> {
        db.read(|txn| {
            let table = txn.open_table(self.table).map_err(db_err)?;
            db::get(&table, &keys::key(&[ns, id]))?.ok_or_else(|| self.not_found(id))
        })
    }

    /// Every object of the namespace.
    pub fn list<T: DeserializeOwned>(&self, db: &Db, ns: &str) -> Result<Vec<T>> {
        db.read(|txn| {
            let table = txn.open_table(self.table).map_err(db_err)?;
            let rows: Vec<(String, T)> = db::scan(&table, &keys::prefix(&[ns]))?;
            Ok(rows.into_iter().map(|(_, v)| v).collect())
        })
    }

    /// Reads, changes with `f` and writes back one object atomically.
    pub fn update<T: Serialize + DeserializeOwned>(
        &self,
        db: &Db,
        ns: &str,
        id: &str,
        f: impl FnOnce(T) -> Result<T>,
    ) -> Result<T> {
        db.write(|txn| {
            let mut table = txn.open_table(self.table).map_err(db_err)?;
            let k = keys::key(&[ns, id]);
            let current: T = db::get(&table, &k)?.ok_or_else(|| self.not_found(id))?;
            let updated = f(current)?;
            table
                .insert(k.as_str(), encode(&updated)?.as_slice())
                .map_err(db_err)?;
            Ok(updated)
        })
    }

    /// Deletes one object; `NotFound` if absent.
    pub fn delete(&self, db: &Db, ns: &str, id: &str) -> Result<()> {
        db.write(|txn| {
            let mut table = txn.open_table(self.table).map_err(db_err)?;
            if table
                .remove(keys::key(&[ns, id]).as_str())
                .map_err(db_err)?
                .is_none()
            {
                return Err(self.not_found(id));
            }
            Ok(())
        })
    }
}

/// Applies containerd's `labels` / `labels.<key>` field paths to a map.
pub(crate) fn apply_map_path(
    current: &mut std::collections::HashMap<String, String>,
    requested: &std::collections::HashMap<String, String>,
    path: &str,
    prefix: &str,
) -> bool {
    if path == prefix {
        *current = requested.clone();
        return true;
    }
    if let Some(key) = path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
    {
        match requested.get(key).filter(|v| !v.is_empty()) {
            Some(v) => current.insert(key.to_string(), v.clone()),
            None => current.remove(key),
        };
        return true;
    }
    false
}
