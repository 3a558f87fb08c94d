//! Namespaces: create, read, label and delete.

use std::collections::HashMap;

use crated_core::{Error, Result, identifiers};
use redb::ReadableTable;

use crate::db::{self, Db, NAMESPACES, db_err, encode};
use crate::records::NamespaceRecord;

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

/// The namespace store.
#[derive(Clone)]
pub struct Namespaces {
    db: Db,
}

/// Creates the namespace inside `txn` if it does not exist yet, as every
/// write into a namespace does in containerd.
pub(crate) fn ensure(txn: &redb::WriteTransaction, ns: &str) -> Result<()> {
    identifiers::validate(ns).map_err(|e| e.context(format!("namespace {ns:?}")))?;
    let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
    if table.get(ns).map_err(db_err)?.is_none() {
        let record = encode(&NamespaceRecord::default())?;
        table.insert(ns, record.as_slice()).map_err(db_err)?;
    }
    Ok(())
}

impl Namespaces {
    /// The namespace store over `db`.
    pub fn new(db: Db) -> Self {
        Namespaces { db }
    }

    /// Creates a namespace; `AlreadyExists` if it exists.
    pub fn create(&self, name: &str, labels: HashMap<String, String>) -> Result<Namespace> {
        identifiers::validate(name).map_err(|e| e.context(format!("namespace {name:?}")))?;
        identifiers::validate_labels(&labels)?;
        self.db.write(|txn| {
            let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
            if table.get(name).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("namespace {name:?}")));
            }
            let record = encode(&NamespaceRecord {
                labels: labels.clone(),
            })?;
            table.insert(name, record.as_slice()).map_err(db_err)?;
            Ok(())
        })?;
        Ok(Namespace {
            name: name.to_string(),
            labels,
        })
    }

    /// Reads a namespace; `NotFound` if absent.
    pub fn get(&self, name: &str) -> Result<Namespace> {
        identifiers::validate(name).map_err(|e| e.context(format!("namespace {name:?}")))?;
        self.db.read(|txn| {
            let table = txn.open_table(NAMESPACES).map_err(db_err)?;
            let record: Option<NamespaceRecord> = db::get(&table, name)?;
            record
                .map(|r| Namespace {
                    name: name.to_string(),
                    labels: r.labels,
                })
                .ok_or_else(|| Error::not_found(format!("namespace {name:?}")))
        })
    }

    /// Every namespace, sorted by name.
    pub fn list(&self) -> Result<Vec<Namespace>> {
        self.db.read(|txn| {
            let table = txn.open_table(NAMESPACES).map_err(db_err)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let record: NamespaceRecord = db::decode(k.value(), v.value())?;
                out.push(Namespace {
                    name: k.value().to_string(),
                    labels: record.labels,
                });
            }
            Ok(out)
        })
    }

    /// Replaces the namespace's labels with `labels`; `NotFound` if absent.
    pub fn set_labels(&self, name: &str, labels: HashMap<String, String>) -> Result<Namespace> {
        identifiers::validate_labels(&labels)?;
        self.db.write(|txn| {
            let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
            if table.get(name).map_err(db_err)?.is_none() {
                return Err(Error::not_found(format!("namespace {name:?}")));
            }
            let record = encode(&NamespaceRecord {
                labels: labels.clone(),
            })?;
            table.insert(name, record.as_slice()).map_err(db_err)?;
            Ok(())
        })?;
        Ok(Namespace {
            name: name.to_string(),
            labels,
        })
    }

    /// Deletes an empty namespace: `NotFound` if absent, `FailedPrecondition`
    /// naming what it still holds otherwise.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.db.write(|txn| {
            let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
            if table.get(name).map_err(db_err)?.is_none() {
                return Err(Error::not_found(format!("namespace {name:?}")));
            }
            let held = Db::namespace_contents(txn, name)?;
            if !held.is_empty() {
                return Err(Error::failed_precondition(format!(
                    "namespace {name:?} must be empty, but it still has {}",
                    held.join(", ")
                )));
            }
            table.remove(name).map_err(db_err)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    fn store() -> (tempfile::TempDir, Namespaces) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.redb")).unwrap();
        (dir, Namespaces::new(db))
    }

    #[test]
    fn create_get_list_label_delete() {
        let (_dir, ns) = store();
        let labels = HashMap::from([("a".to_string(), "1".to_string())]);
        ns.create("one", labels.clone()).unwrap();
        ns.create("two", HashMap::new()).unwrap();
        assert_eq!(ns.get("one").unwrap().labels, labels);
        let names: Vec<_> = ns.list().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, vec!["one", "two"]);
        ns.set_labels("two", labels.clone()).unwrap();
        assert_eq!(ns.get("two").unwrap().labels, labels);
        ns.delete("one").unwrap();
        assert_eq!(ns.get("one").unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn errors_have_containerd_kinds() {
        let (_dir, ns) = store();
        ns.create("x", HashMap::new()).unwrap();
        assert_eq!(
            ns.create("x", HashMap::new()).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            ns.create("bad/name", HashMap::new()).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(ns.delete("nope").unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(
            ns.set_labels("nope", HashMap::new()).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
