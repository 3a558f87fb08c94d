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

    /// Reads a namespace. A namespace that does not exist reads as one with
    /// no labels, whatever its name, as containerd's store answers (its Go
    /// client reads the default namespace's labels before anything creates
    /// it).
    pub fn get(&self, name: &str) -> Result<Namespace> {
        self.db.read(|txn| {
            let table = txn.open_table(NAMESPACES).map_err(db_err)?;
            let record: Option<NamespaceRecord> = db::get(&table, name)?;
            Ok(Namespace {
                name: name.to_string(),
                labels: record.map(|r| r.labels).unwrap_or_default(),
            })
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

    /// Changes the namespace's labels in one transaction: `change` gets the
    /// current labels (none if the namespace does not exist) and returns the
    /// new ones. A namespace that does not exist is created when `create` is
    /// set (containerd creates it whenever an update sets or clears a
    /// label) and otherwise left absent, answering with no labels.
    pub fn update_labels(
        &self,
        name: &str,
        create: bool,
        change: impl FnOnce(HashMap<String, String>) -> Result<HashMap<String, String>>,
    ) -> Result<Namespace> {
        self.db.write(|txn| {
            let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
            let current: Option<NamespaceRecord> = db::get(&table, name)?;
            if current.is_none() && !create {
                return Ok(Namespace {
                    name: name.to_string(),
                    labels: HashMap::new(),
                });
            }
            identifiers::validate(name).map_err(|e| e.context(format!("namespace {name:?}")))?;
            let labels = change(current.map(|r| r.labels).unwrap_or_default())?;
            identifiers::validate_labels(&labels)?;
            let record = encode(&NamespaceRecord {
                labels: labels.clone(),
            })?;
            table.insert(name, record.as_slice()).map_err(db_err)?;
            Ok(Namespace {
                name: name.to_string(),
                labels,
            })
        })
    }

    /// Deletes an empty namespace: `NotFound` if absent, `FailedPrecondition`
    /// naming what it still holds otherwise. Leases do not keep it (as in
    /// containerd, they go with it); images, blobs, containers, snapshots,
    /// and, unlike containerd, ingests (whose bytes would be left behind)
    /// and sandboxes do.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.db.write(|txn| {
            let mut table = txn.open_table(NAMESPACES).map_err(db_err)?;
            if table.get(name).map_err(db_err)?.is_none() {
                return Err(Error::not_found(format!("namespace {name:?}")));
            }
            let mut held = Db::namespace_contents(txn, name)?;
            held.retain(|kind| *kind != "leases");
            if !held.is_empty() {
                return Err(Error::failed_precondition(format!(
                    "namespace {name:?} must be empty, but it still has {}",
                    held.join(", ")
                )));
            }
            crate::leases::remove_all_in(txn, name)?;
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

    fn names(ns: &Namespaces) -> Vec<String> {
        ns.list().unwrap().into_iter().map(|n| n.name).collect()
    }

    fn replace(
        labels: HashMap<String, String>,
    ) -> impl FnOnce(HashMap<String, String>) -> Result<HashMap<String, String>> {
        move |_| Ok(labels)
    }

    #[test]
    fn create_get_list_label_delete() {
        let (_dir, ns) = store();
        let labels = HashMap::from([("a".to_string(), "1".to_string())]);
        ns.create("one", labels.clone()).unwrap();
        ns.create("two", HashMap::new()).unwrap();
        assert_eq!(ns.get("one").unwrap().labels, labels);
        assert_eq!(names(&ns), vec!["one", "two"]);
        ns.update_labels("two", true, replace(labels.clone()))
            .unwrap();
        assert_eq!(ns.get("two").unwrap().labels, labels);
        ns.delete("one").unwrap();
        assert_eq!(names(&ns), vec!["two"]);
    }

    #[test]
    fn missing_namespace_reads_as_empty() {
        let (_dir, ns) = store();
        for name in ["moby", "bad/name", ""] {
            let got = ns.get(name).unwrap();
            assert_eq!(got.name, name);
            assert!(got.labels.is_empty());
        }
        assert!(names(&ns).is_empty());
    }

    #[test]
    fn label_update_creates_only_when_asked() {
        let (_dir, ns) = store();
        let labels = HashMap::from([("k".to_string(), "v".to_string())]);
        let untouched = ns
            .update_labels("quiet", false, |_| {
                panic!("not called for a missing namespace")
            })
            .unwrap();
        assert!(untouched.labels.is_empty());
        assert!(names(&ns).is_empty());

        let made = ns
            .update_labels("fresh", true, replace(labels.clone()))
            .unwrap();
        assert_eq!(made.labels, labels);
        assert_eq!(names(&ns), vec!["fresh"]);
        assert_eq!(ns.get("fresh").unwrap().labels, labels);

        let bad = ns
            .update_labels("bad/name", true, replace(labels))
            .unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
        let bad_label = ns
            .update_labels(
                "fresh",
                true,
                replace(HashMap::from([("k".into(), "v".repeat(5000))])),
            )
            .unwrap_err();
        assert_eq!(bad_label.kind(), ErrorKind::InvalidArgument);
        assert_eq!(names(&ns), vec!["fresh"]);
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
    }

    /// Each kind of write into a namespace that does not exist creates it,
    /// as containerd's metadata does; a failed write creates nothing.
    #[test]
    fn every_write_creates_its_namespace() {
        use crate::testutil::Fake;
        use crate::{Containers, Images, Leases, NamespacedContent, NamespacedSnapshots};
        use crated_core::container::{Container, Runtime};
        use crated_core::image::{Descriptor, Image};
        use crated_core::snapshot::Snapshotter;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.redb")).unwrap();
        let ns = Namespaces::new(db.clone());
        let store = crated_content::LocalStore::open(dir.path().join("content")).unwrap();
        let content = NamespacedContent::new(db.clone(), Arc::new(store));
        let backends: HashMap<String, Arc<dyn Snapshotter>> =
            HashMap::from([("fake".to_string(), Arc::new(Fake::default()) as _)]);
        let snapshots = NamespacedSnapshots::new(db.clone(), backends);
        let now = chrono::Utc::now();

        content.writer("w-ingest", "ref", 0, "", None).unwrap();
        Leases::new(db.clone())
            .create("w-lease", "l", HashMap::new())
            .unwrap();
        let image = Image {
            name: "img".into(),
            labels: HashMap::new(),
            target: Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
                size: 1,
                annotations: HashMap::new(),
            },
            created_at: now,
            updated_at: now,
        };
        Images::new(db.clone()).create("w-image", image).unwrap();
        let container = Container {
            id: "c".into(),
            labels: HashMap::new(),
            image: String::new(),
            runtime: Runtime {
                name: "io.containerd.runc.v2".into(),
                options: None,
            },
            spec: Some(crated_core::container::AnyValue {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: b"{}".to_vec(),
            }),
            snapshotter: String::new(),
            snapshot_key: String::new(),
            created_at: now,
            updated_at: now,
            extensions: HashMap::new(),
            sandbox: String::new(),
        };
        Containers::new(db.clone())
            .create("w-container", container)
            .unwrap();
        snapshots
            .prepare("w-prepare", "fake", "k", "", HashMap::new(), None)
            .unwrap();
        snapshots
            .view("w-view", "fake", "k", "", HashMap::new(), None)
            .unwrap();
        assert!(
            snapshots
                .prepare(
                    "w-failed",
                    "fake",
                    "k",
                    "missing-parent",
                    HashMap::new(),
                    None
                )
                .is_err()
        );
        assert_eq!(
            names(&ns),
            vec![
                "w-container",
                "w-image",
                "w-ingest",
                "w-lease",
                "w-prepare",
                "w-view"
            ]
        );
    }

    /// A namespace holding only leases is deleted with them; one holding
    /// an image is not.
    #[test]
    fn delete_takes_leases_along() {
        use crate::{LeaseResource, Leases};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.redb")).unwrap();
        let ns = Namespaces::new(db.clone());
        let leases = Leases::new(db.clone());
        leases.create("leased", "l1", HashMap::new()).unwrap();
        let resource = LeaseResource {
            kind: "content".into(),
            id: format!("sha256:{}", "b".repeat(64)),
        };
        leases.add_resource("leased", "l1", &resource).unwrap();
        leases.create("other", "l1", HashMap::new()).unwrap();
        ns.delete("leased").unwrap();
        assert_eq!(names(&ns), vec!["other"]);
        assert!(leases.list("leased").unwrap().is_empty());
        assert_eq!(leases.list("other").unwrap().len(), 1);
        // Re-created, it has no lease and no resource left over.
        leases.create("leased", "l1", HashMap::new()).unwrap();
        assert!(leases.list_resources("leased", "l1").unwrap().is_empty());
    }
}
