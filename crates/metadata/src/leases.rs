//! Leases and the resources they hold.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_core::{Error, Result, digest, identifiers};
use redb::ReadableTable;

use crate::db::{self, Db, LEASE_RESOURCES, LEASES, db_err, encode};
use crate::keys;
use crate::namespaces;
use crate::records::LeaseRecord;

/// A lease: a root that keeps resources from garbage collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease id.
    pub id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its labels (`containerd.io/gc.expire` sets an expiry).
    pub labels: HashMap<String, String>,
}

/// A resource held by a lease: a type (`content`, `ingests`,
/// `snapshots/<snapshotter>`) and an id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaseResource {
    /// The resource id (a digest, an ingest ref, a snapshot key).
    pub id: String,
    /// The resource type.
    pub kind: String,
}

/// The lease manager.
#[derive(Clone)]
pub struct Leases {
    db: Db,
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("lease {id:?}"))
}

/// Lease ids are free-form in containerd (its clients generate ids such as
/// `1234-Ab_-`); they only must be non-empty and fit in a key.
fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid_argument("lease id must be provided"));
    }
    if id.contains('\0') || id.len() > 1024 {
        return Err(Error::invalid_argument(format!(
            "lease id {id:?} must not contain NUL or exceed 1024 bytes"
        )));
    }
    Ok(())
}

fn validate_resource(r: &LeaseResource) -> Result<()> {
    let parts: Vec<&str> = r.kind.split('/').collect();
    match parts.as_slice() {
        ["content"] => digest::validate(&r.id)
            .map_err(|e| e.context(format!("invalid content resource id {:?}", r.id))),
        _ if r.id.contains('\0') => {
            Err(Error::invalid_argument("resource id must not contain NUL"))
        }
        ["ingests"] if !r.id.is_empty() => Ok(()),
        ["snapshots", snapshotter] if !snapshotter.is_empty() && !r.id.is_empty() => Ok(()),
        ["ingests"] | ["snapshots", ..] => Err(Error::invalid_argument(format!(
            "invalid resource {:?} of type {:?}",
            r.id, r.kind
        ))),
        _ => Err(Error::not_implemented(format!(
            "resource type {:?} not supported yet (supported: content, ingests, snapshots/<snapshotter>)",
            r.kind
        ))),
    }
}

/// Adds a resource to a lease inside `txn`.
pub(crate) fn add_resource_in(
    txn: &redb::WriteTransaction,
    ns: &str,
    lease: &str,
    resource: &LeaseResource,
) -> Result<()> {
    let leases = txn.open_table(LEASES).map_err(db_err)?;
    if leases
        .get(keys::key(&[ns, lease]).as_str())
        .map_err(db_err)?
        .is_none()
    {
        return Err(not_found(lease));
    }
    let mut table = txn.open_table(LEASE_RESOURCES).map_err(db_err)?;
    let k = keys::key(&[ns, lease, &resource.kind, &resource.id]);
    table.insert(k.as_str(), &[][..]).map_err(db_err)?;
    Ok(())
}

/// Removes a resource from a lease inside `txn`, if present.
pub(crate) fn remove_resource_in(
    txn: &redb::WriteTransaction,
    ns: &str,
    lease: &str,
    resource: &LeaseResource,
) -> Result<()> {
    let mut table = txn.open_table(LEASE_RESOURCES).map_err(db_err)?;
    let k = keys::key(&[ns, lease, &resource.kind, &resource.id]);
    table.remove(k.as_str()).map_err(db_err)?;
    Ok(())
}

/// Removes every lease of `ns` and their resource references inside `txn`
/// (a namespace being deleted takes its leases along, as in containerd).
pub(crate) fn remove_all_in(txn: &redb::WriteTransaction, ns: &str) -> Result<()> {
    let p = keys::prefix(&[ns]);
    let end = keys::prefix_end(&p);
    for def in [LEASES, LEASE_RESOURCES] {
        let mut table = txn.open_table(def).map_err(db_err)?;
        table
            .retain_in(p.as_str()..end.as_str(), |_, _| false)
            .map_err(db_err)?;
    }
    Ok(())
}

impl Leases {
    /// The lease manager over `db`.
    pub fn new(db: Db) -> Self {
        Leases { db }
    }

    /// Creates a lease; `AlreadyExists` if the id is taken.
    pub fn create(&self, ns: &str, id: &str, labels: HashMap<String, String>) -> Result<Lease> {
        validate_id(id)?;
        identifiers::validate_labels(&labels)?;
        let created_at = Utc::now();
        self.db.write(|txn| {
            namespaces::ensure(txn, ns)?;
            let mut table = txn.open_table(LEASES).map_err(db_err)?;
            let k = keys::key(&[ns, id]);
            if table.get(k.as_str()).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("lease {id:?}")));
            }
            let record = encode(&LeaseRecord {
                labels: labels.clone(),
                created_at,
            })?;
            table
                .insert(k.as_str(), record.as_slice())
                .map_err(db_err)?;
            Ok(())
        })?;
        Ok(Lease {
            id: id.to_string(),
            created_at,
            labels,
        })
    }

    /// Every lease of the namespace.
    pub fn list(&self, ns: &str) -> Result<Vec<Lease>> {
        self.db.read(|txn| {
            let table = txn.open_table(LEASES).map_err(db_err)?;
            let rows: Vec<(String, LeaseRecord)> = db::scan(&table, &keys::prefix(&[ns]))?;
            Ok(rows
                .into_iter()
                .map(|(k, r)| Lease {
                    id: keys::split(&k)
                        .get(1)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    created_at: r.created_at,
                    labels: r.labels,
                })
                .collect())
        })
    }

    /// Deletes a lease and releases its resources; `NotFound` if absent.
    pub fn delete(&self, ns: &str, id: &str) -> Result<()> {
        self.db.write(|txn| {
            let mut table = txn.open_table(LEASES).map_err(db_err)?;
            if table
                .remove(keys::key(&[ns, id]).as_str())
                .map_err(db_err)?
                .is_none()
            {
                return Err(not_found(id));
            }
            let mut resources = txn.open_table(LEASE_RESOURCES).map_err(db_err)?;
            let p = keys::prefix(&[ns, id]);
            let end = keys::prefix_end(&p);
            resources
                .retain_in(p.as_str()..end.as_str(), |_, _| false)
                .map_err(db_err)?;
            Ok(())
        })
    }

    /// Adds a resource to a lease; `NotFound` if the lease is absent.
    pub fn add_resource(&self, ns: &str, lease: &str, resource: &LeaseResource) -> Result<()> {
        validate_resource(resource)?;
        self.db
            .write(|txn| add_resource_in(txn, ns, lease, resource))
    }

    /// Removes a resource from a lease; `NotFound` if the lease is absent.
    pub fn delete_resource(&self, ns: &str, lease: &str, resource: &LeaseResource) -> Result<()> {
        validate_resource(resource)?;
        self.db.write(|txn| {
            let leases = txn.open_table(LEASES).map_err(db_err)?;
            if leases
                .get(keys::key(&[ns, lease]).as_str())
                .map_err(db_err)?
                .is_none()
            {
                return Err(not_found(lease));
            }
            drop(leases);
            remove_resource_in(txn, ns, lease, resource)
        })
    }

    /// The resources a lease holds, sorted; `NotFound` if it is absent.
    pub fn list_resources(&self, ns: &str, lease: &str) -> Result<Vec<LeaseResource>> {
        self.db.read(|txn| {
            let leases = txn.open_table(LEASES).map_err(db_err)?;
            if leases
                .get(keys::key(&[ns, lease]).as_str())
                .map_err(db_err)?
                .is_none()
            {
                return Err(not_found(lease));
            }
            let table = txn.open_table(LEASE_RESOURCES).map_err(db_err)?;
            let p = keys::prefix(&[ns, lease]);
            let end = keys::prefix_end(&p);
            let mut out = Vec::new();
            for row in table.range(p.as_str()..end.as_str()).map_err(db_err)? {
                let (k, _) = row.map_err(db_err)?;
                if let [_, _, kind, id] = keys::split(k.value()).as_slice() {
                    out.push(LeaseResource {
                        id: id.to_string(),
                        kind: kind.to_string(),
                    });
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    fn leases() -> (tempfile::TempDir, Leases) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.redb")).unwrap();
        (dir, Leases::new(db))
    }

    #[test]
    fn lifecycle_with_resources() {
        let (_dir, l) = leases();
        l.create("ns", "l1", HashMap::new()).unwrap();
        assert_eq!(
            l.create("ns", "l1", HashMap::new()).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let content = LeaseResource {
            id: format!("sha256:{}", "0".repeat(64)),
            kind: "content".into(),
        };
        let snap = LeaseResource {
            id: "key".into(),
            kind: "snapshots/overlayfs".into(),
        };
        l.add_resource("ns", "l1", &content).unwrap();
        l.add_resource("ns", "l1", &snap).unwrap();
        assert_eq!(l.list_resources("ns", "l1").unwrap().len(), 2);
        l.delete_resource("ns", "l1", &snap).unwrap();
        assert_eq!(l.list_resources("ns", "l1").unwrap(), vec![content]);
        assert_eq!(l.list("ns").unwrap().len(), 1);
        assert!(l.list("other").unwrap().is_empty());
        l.delete("ns", "l1").unwrap();
        assert_eq!(
            l.delete("ns", "l1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            l.list_resources("ns", "l1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn bad_resources_are_refused() {
        let (_dir, l) = leases();
        l.create("ns", "l1", HashMap::new()).unwrap();
        let bad_digest = LeaseResource {
            id: "nope".into(),
            kind: "content".into(),
        };
        assert_eq!(
            l.add_resource("ns", "l1", &bad_digest).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let unknown = LeaseResource {
            id: "x".into(),
            kind: "widgets".into(),
        };
        assert_eq!(
            l.add_resource("ns", "l1", &unknown).unwrap_err().kind(),
            ErrorKind::NotImplemented
        );
        let ok = LeaseResource {
            id: "r".into(),
            kind: "ingests".into(),
        };
        assert_eq!(
            l.add_resource("ns", "nope", &ok).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
