//! Lookups shared by read and write transactions.

use std::collections::HashMap;

use crated_core::snapshot::{Info, Kind, Usage};
use crated_core::{Error, Result};
use redb::ReadableTable;

use super::Snapshot;
use super::record::Record;
use crate::errors::db_error;

/// The table of records, as either transaction opens it.
pub(crate) trait Records: ReadableTable<&'static str, &'static [u8]> {}
impl<T: ReadableTable<&'static str, &'static [u8]>> Records for T {}

/// The record of `key`, if any.
pub(crate) fn record(table: &impl Records, key: &str) -> Result<Option<Record>> {
    match table.get(key).map_err(db_error)? {
        Some(v) => Ok(Some(Record::decode(key, v.value())?)),
        None => Ok(None),
    }
}

/// The record of `key`, `NotFound` if absent.
pub(crate) fn existing(table: &impl Records, key: &str) -> Result<Record> {
    record(table, key)?.ok_or_else(|| Error::not_found(format!("snapshot {key:?} does not exist")))
}

/// The ids of `parent` and its ancestors, nearest first.
pub(crate) fn parent_ids(table: &impl Records, parent: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut next = parent.to_owned();
    while !next.is_empty() {
        let rec = record(table, &next)?.ok_or_else(|| {
            Error::not_found(format!(
                "parent snapshot {next:?} of the chain does not exist"
            ))
        })?;
        ids.push(rec.id.to_string());
        next = rec.parent;
    }
    Ok(ids)
}

/// Id, info and recorded usage of `key`.
pub(crate) fn info(table: &impl Records, key: &str) -> Result<(String, Info, Usage)> {
    let rec = existing(table, key)?;
    Ok((rec.id.to_string(), rec.info(key)?, rec.usage()))
}

/// The active or view snapshot `key` with its parent chain.
pub(crate) fn snapshot(table: &impl Records, key: &str) -> Result<Snapshot> {
    let rec = existing(table, key)?;
    let kind = rec.kind()?;
    if !matches!(kind, Kind::Active | Kind::View) {
        return Err(Error::failed_precondition(format!(
            "snapshot {key:?} is {}, not active or view",
            kind.as_str()
        )));
    }
    Ok(Snapshot {
        id: rec.id.to_string(),
        kind,
        parent_ids: parent_ids(table, &rec.parent)?,
    })
}

/// Every snapshot's id and info.
pub(crate) fn all(table: &impl Records) -> Result<Vec<(String, Info)>> {
    let mut out = Vec::new();
    for row in table.iter().map_err(db_error)? {
        let (k, v) = row.map_err(db_error)?;
        let key = k.value();
        let rec = Record::decode(key, v.value())?;
        out.push((rec.id.to_string(), rec.info(key)?));
    }
    Ok(out)
}

/// Every id with the kind of its snapshot.
pub(crate) fn ids(table: &impl Records) -> Result<HashMap<String, Kind>> {
    Ok(all(table)?
        .into_iter()
        .map(|(id, info)| (id, info.kind))
        .collect())
}
