//! The changes a write transaction makes, with containerd's rules.

use std::collections::HashMap;

use chrono::Utc;
use crated_core::snapshot::{Info, Kind, Usage};
use crated_core::{Error, Result};
use redb::ReadableTable;

use super::record::{Record, clean_labels};
use super::{META, NEXT_ID, PARENTS, SNAPSHOTS, Snapshot, WriteTxn, read};
use crate::errors::db_error;

impl WriteTxn {
    /// Records a new active or view snapshot `key` on committed `parent`
    /// (empty for none) with a fresh id.
    ///
    /// `InvalidArgument` for another kind or a parent that is not
    /// committed, `NotFound` for a missing parent, `AlreadyExists` for a
    /// key in use.
    pub fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Snapshot> {
        if !matches!(kind, Kind::Active | Kind::View) {
            return Err(Error::invalid_argument(format!(
                "snapshot kind {} is invalid; only active or view snapshots can be created",
                kind.as_str()
            )));
        }
        if key.is_empty() {
            return Err(Error::invalid_argument("snapshot key must not be empty"));
        }
        let mut table = self.0.open_table(SNAPSHOTS).map_err(db_error)?;
        let mut parent_ids = Vec::new();
        let mut parent_id = None;
        if !parent.is_empty() {
            let p = read::record(&table, parent)?.ok_or_else(|| {
                Error::not_found(format!("parent snapshot {parent:?} does not exist"))
            })?;
            if p.kind()? != Kind::Committed {
                return Err(Error::invalid_argument(format!(
                    "parent {parent:?} is not a committed snapshot"
                )));
            }
            parent_id = Some(p.id);
            parent_ids = read::parent_ids(&table, parent)?;
        }
        if read::record(&table, key)?.is_some() {
            return Err(Error::already_exists(format!("snapshot {key:?}")));
        }
        let id = self.next_id()?;
        let now = Utc::now();
        let rec = Record {
            id,
            kind: kind.as_str().to_owned(),
            parent: parent.to_owned(),
            labels: clean_labels(labels),
            created: now,
            updated: now,
            size: 0,
            inodes: 0,
        };
        table
            .insert(key, rec.encode()?.as_slice())
            .map_err(db_error)?;
        if let Some(pid) = parent_id {
            let mut links = self.0.open_table(PARENTS).map_err(db_error)?;
            links.insert((pid, id), key).map_err(db_error)?;
        }
        Ok(Snapshot {
            id: id.to_string(),
            kind,
            parent_ids,
        })
    }

    /// Turns active snapshot `key` into committed `name` with `usage` and
    /// (replacing, not inheriting) `labels`; returns its id, which does not
    /// change. `AlreadyExists` if `name` is taken, `NotFound` for a missing
    /// `key`, `FailedPrecondition` if `key` is not active.
    pub fn commit_active(
        &self,
        key: &str,
        name: &str,
        usage: Usage,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        if name.is_empty() {
            return Err(Error::invalid_argument("snapshot name must not be empty"));
        }
        let mut table = self.0.open_table(SNAPSHOTS).map_err(db_error)?;
        if read::record(&table, name)?.is_some() {
            return Err(Error::already_exists(format!(
                "committed snapshot {name:?}"
            )));
        }
        let mut rec = read::record(&table, key)?
            .ok_or_else(|| Error::not_found(format!("active snapshot {key:?} does not exist")))?;
        if rec.kind()? != Kind::Active {
            return Err(Error::failed_precondition(format!(
                "snapshot {key:?} is {}, not active",
                rec.kind
            )));
        }
        let now = Utc::now();
        rec.kind = Kind::Committed.as_str().to_owned();
        rec.created = now;
        rec.updated = now;
        rec.labels = clean_labels(labels);
        rec.size = usage.size;
        rec.inodes = usage.inodes;
        table.remove(key).map_err(db_error)?;
        table
            .insert(name, rec.encode()?.as_slice())
            .map_err(db_error)?;
        if !rec.parent.is_empty() {
            let parent = read::existing(&table, &rec.parent)?;
            let mut links = self.0.open_table(PARENTS).map_err(db_error)?;
            links.insert((parent.id, rec.id), name).map_err(db_error)?;
        }
        Ok(rec.id.to_string())
    }

    /// Removes `key`; returns its id and kind. `NotFound` if absent,
    /// `FailedPrecondition` while another snapshot has it as parent.
    pub fn remove(&self, key: &str) -> Result<(String, Kind)> {
        let mut table = self.0.open_table(SNAPSHOTS).map_err(db_error)?;
        let rec = read::existing(&table, key)?;
        let mut links = self.0.open_table(PARENTS).map_err(db_error)?;
        let child = match links
            .range((rec.id, 0)..=(rec.id, u64::MAX))
            .map_err(db_error)?
            .next()
        {
            Some(row) => Some(row.map_err(db_error)?.1.value().to_owned()),
            None => None,
        };
        if let Some(child) = child {
            return Err(Error::failed_precondition(format!(
                "cannot remove snapshot {key:?}: it has children (e.g. {child:?})"
            )));
        }
        if !rec.parent.is_empty() {
            let parent = read::existing(&table, &rec.parent)?;
            links.remove((parent.id, rec.id)).map_err(db_error)?;
        }
        table.remove(key).map_err(db_error)?;
        Ok((rec.id.to_string(), rec.kind()?))
    }

    /// Updates the labels of `info.name` per `fieldpaths` (none or
    /// `labels`: all of them; `labels.<k>`: one, removed when `info` has
    /// no value for it) and returns the stored info. `InvalidArgument` for
    /// any other field.
    pub fn update(&self, info: &Info, fieldpaths: &[String]) -> Result<Info> {
        let mut table = self.0.open_table(SNAPSHOTS).map_err(db_error)?;
        let mut rec = read::existing(&table, &info.name)?;
        if fieldpaths.is_empty() {
            rec.labels = info.labels.clone();
        }
        for path in fieldpaths {
            if let Some(label) = path.strip_prefix("labels.") {
                let value = info.labels.get(label).cloned().unwrap_or_default();
                rec.labels.insert(label.to_owned(), value);
            } else if path == "labels" {
                rec.labels = info.labels.clone();
            } else {
                return Err(Error::invalid_argument(format!(
                    "cannot update {path:?} field on snapshot {:?}",
                    info.name
                )));
            }
        }
        rec.labels = clean_labels(std::mem::take(&mut rec.labels));
        rec.updated = Utc::now();
        table
            .insert(info.name.as_str(), rec.encode()?.as_slice())
            .map_err(db_error)?;
        rec.info(&info.name)
    }

    fn next_id(&self) -> Result<u64> {
        let mut meta = self.0.open_table(META).map_err(db_error)?;
        let last = meta
            .get(NEXT_ID)
            .map_err(db_error)?
            .map(|v| v.value())
            .unwrap_or(0);
        let id = last + 1;
        meta.insert(NEXT_ID, id).map_err(db_error)?;
        Ok(id)
    }
}
