//! The namespaced view of snapshotters: each namespace has its own keys,
//! parents and labels, mapped onto unique backend keys.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind, Snapshotter, Usage};
use crated_core::{Error, ErrorKind, Result};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::db::{self, Db, SEQUENCES, SNAPSHOTS, db_err, encode};
use crate::keys;
use crate::leases::{LeaseResource, add_resource_in};
use crate::namespaces;
use crate::snapshotter::NamespacedSnapshotter;

/// A namespace's snapshot record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    pub(crate) backend_key: String,
    #[serde(default)]
    pub(crate) parent: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) labels: HashMap<String, String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn kind_from(s: &str) -> Kind {
    match s {
        "view" => Kind::View,
        "active" => Kind::Active,
        "committed" => Kind::Committed,
        _ => Kind::Unknown,
    }
}

fn not_found(key: &str) -> Error {
    Error::not_found(format!("snapshot {key} does not exist"))
}

fn info_of(key: &str, r: &SnapshotRecord) -> Info {
    Info {
        kind: kind_from(&r.kind),
        name: key.to_string(),
        parent: r.parent.clone(),
        labels: r.labels.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Labels that travel to the backend: containerd passes only
/// `containerd.io/snapshot/…` labels.
fn inherited(labels: &HashMap<String, String>) -> HashMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| k.starts_with("containerd.io/snapshot/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a new active snapshot or view is made of.
struct NewSnapshot<'a> {
    key: &'a str,
    parent: &'a str,
    labels: HashMap<String, String>,
    lease: Option<&'a str>,
}

/// Snapshots as namespaces see them, over every snapshotter backend.
#[derive(Clone)]
pub struct NamespacedSnapshots {
    db: Db,
    backends: Arc<HashMap<String, Arc<dyn Snapshotter>>>,
    /// Snapshotters with a remove since their last cleanup (as containerd's
    /// `dirtySS`): the next collection cleans them.
    dirty: Arc<Mutex<HashSet<String>>>,
}

impl NamespacedSnapshots {
    /// A namespaced view over `backends`, keyed by snapshotter name. Every
    /// backend starts dirty, so the first collection after startup reclaims
    /// directories left without a record (e.g. by a crash).
    pub fn new(db: Db, backends: HashMap<String, Arc<dyn Snapshotter>>) -> Self {
        let dirty = backends.keys().cloned().collect();
        NamespacedSnapshots {
            db,
            backends: Arc::new(backends),
            dirty: Arc::new(Mutex::new(dirty)),
        }
    }

    fn mark_dirty(&self, sn: &str) {
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sn.to_string());
    }

    /// Removes backend snapshot `backend_key` of `sn` whose record is gone
    /// and marks `sn` for cleanup; a failure is logged (the cleanup of the
    /// next collection retries).
    fn remove_backend(&self, sn: &str, backend: &Arc<dyn Snapshotter>, backend_key: &str) {
        self.mark_dirty(sn);
        match backend.remove(backend_key) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                tracing::warn!(snapshotter = sn, backend_key, error = %e, "removing backend snapshot failed; cleanup will retry");
            }
            _ => {}
        }
    }

    /// Removes the backend snapshots `(snapshotter, backend key)` whose
    /// records a collection removed, in the order given (children first).
    pub(crate) fn remove_backends(&self, removed: &[(String, String)]) {
        for (sn, backend_key) in removed {
            match self.backend(sn) {
                Ok(backend) => self.remove_backend(sn, &backend.clone(), backend_key),
                Err(e) => tracing::warn!(snapshotter = %sn, error = %e, "gc: removing snapshot"),
            }
        }
    }

    /// Runs `cleanup()` on every snapshotter that had a remove since its
    /// last cleanup (or that has not been cleaned since startup); one that
    /// fails stays dirty for the next collection. Returns how many were
    /// cleaned.
    pub fn cleanup_dirty(&self) -> usize {
        let dirty: Vec<String> = self
            .dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        let mut cleaned = 0;
        for sn in dirty {
            match self.cleanup(&sn) {
                Ok(()) => cleaned += 1,
                Err(e) => {
                    tracing::warn!(snapshotter = %sn, error = %e, "snapshotter cleanup failed; the next collection retries");
                    self.mark_dirty(&sn);
                }
            }
        }
        cleaned
    }

    /// The names of the snapshotters available.
    pub fn snapshotters(&self) -> Vec<String> {
        let mut names: Vec<String> = self.backends.keys().cloned().collect();
        names.sort();
        names
    }

    /// Namespace `ns`'s view of snapshotter `sn` as a core
    /// [`Snapshotter`]; `InvalidArgument` when `sn` is not loaded.
    pub fn namespaced(&self, ns: &str, sn: &str) -> Result<NamespacedSnapshotter> {
        NamespacedSnapshotter::new(self.clone(), ns, sn)
    }

    pub(crate) fn backend(&self, name: &str) -> Result<&Arc<dyn Snapshotter>> {
        self.backends.get(name).ok_or_else(|| {
            Error::invalid_argument(format!(
                "snapshotter {name:?} not loaded (available: {})",
                self.snapshotters().join(", ")
            ))
        })
    }

    fn record(&self, ns: &str, sn: &str, key: &str) -> Result<SnapshotRecord> {
        self.db.read(|txn| {
            let table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            db::get(&table, &keys::key(&[ns, sn, key]))?.ok_or_else(|| not_found(key))
        })
    }

    fn create(&self, ns: &str, sn: &str, new: NewSnapshot<'_>, view: bool) -> Result<Vec<Mount>> {
        let NewSnapshot {
            key,
            parent,
            mut labels,
            lease,
        } = new;
        if key.is_empty() || key.contains('\0') {
            return Err(Error::invalid_argument(
                "snapshot key must be non-empty and must not contain NUL",
            ));
        }
        crated_core::identifiers::validate_labels(&labels)?;
        // An empty value is no label, as on update and commit.
        labels.retain(|_, v| !v.is_empty());
        let backend = self.backend(sn)?.clone();
        let k = keys::key(&[ns, sn, key]);
        // Reserve a backend key under the lock, call the backend outside it
        // (a native copy can take long), then record the snapshot; as in
        // containerd. Whatever fails after the backend call removes what
        // the backend made.
        let (backend_key, backend_parent) = self.db.write(|txn| {
            namespaces::ensure(txn, ns)?;
            let table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            if table.get(k.as_str()).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("snapshot {key:?}")));
            }
            let backend_parent = if parent.is_empty() {
                String::new()
            } else {
                let p: SnapshotRecord = db::get(&table, &keys::key(&[ns, sn, parent]))?
                    .ok_or_else(|| {
                        Error::not_found(format!("parent snapshot {parent} does not exist"))
                    })?;
                p.backend_key
            };
            drop(table);
            let seq = next_sequence(txn, sn)?;
            Ok((format!("{ns}/{seq}/{key}"), backend_parent))
        })?;
        let mounts = if view {
            backend.view(&backend_key, &backend_parent, inherited(&labels))?
        } else {
            backend.prepare(&backend_key, &backend_parent, inherited(&labels))?
        };
        let now = Utc::now();
        let record = SnapshotRecord {
            backend_key: backend_key.clone(),
            parent: parent.to_string(),
            kind: if view { "view" } else { "active" }.to_string(),
            labels,
            created_at: now,
            updated_at: now,
        };
        let recorded = self.db.write(|txn| {
            // The namespace may have been deleted while the backend worked.
            namespaces::ensure(txn, ns)?;
            let mut table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            if table.get(k.as_str()).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("snapshot {key:?}")));
            }
            if !parent.is_empty()
                && table
                    .get(keys::key(&[ns, sn, parent]).as_str())
                    .map_err(db_err)?
                    .is_none()
            {
                return Err(Error::not_found(format!(
                    "parent snapshot {parent} does not exist"
                )));
            }
            table
                .insert(k.as_str(), encode(&record)?.as_slice())
                .map_err(db_err)?;
            if let Some(lease) = lease {
                add_resource_in(txn, ns, lease, &snapshot_resource(sn, key))?;
            }
            Ok(())
        });
        if let Err(e) = recorded {
            self.mark_dirty(sn);
            let _ = backend.remove(&backend_key);
            return Err(e);
        }
        Ok(mounts)
    }

    /// Prepares an active snapshot `key` on top of `parent` in `ns`.
    pub fn prepare(
        &self,
        ns: &str,
        sn: &str,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
        lease: Option<&str>,
    ) -> Result<Vec<Mount>> {
        self.create(
            ns,
            sn,
            NewSnapshot {
                key,
                parent,
                labels,
                lease,
            },
            false,
        )
    }

    /// Creates a read-only view `key` of `parent` in `ns`.
    pub fn view(
        &self,
        ns: &str,
        sn: &str,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
        lease: Option<&str>,
    ) -> Result<Vec<Mount>> {
        self.create(
            ns,
            sn,
            NewSnapshot {
                key,
                parent,
                labels,
                lease,
            },
            true,
        )
    }

    /// The mounts of `key`.
    pub fn mounts(&self, ns: &str, sn: &str, key: &str) -> Result<Vec<Mount>> {
        let backend = self.backend(sn)?;
        let r = self.record(ns, sn, key)?;
        backend.mounts(&r.backend_key)
    }

    /// Commits active `key` as `name` in `ns`.
    pub fn commit(
        &self,
        ns: &str,
        sn: &str,
        name: &str,
        key: &str,
        labels: HashMap<String, String>,
        lease: Option<&str>,
    ) -> Result<()> {
        if name.is_empty() || name.contains('\0') {
            return Err(Error::invalid_argument(
                "snapshot name must be non-empty and must not contain NUL",
            ));
        }
        crated_core::identifiers::validate_labels(&labels)?;
        let backend = self.backend(sn)?.clone();
        self.db.write(|txn| {
            let mut table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            let nk = keys::key(&[ns, sn, name]);
            if table.get(nk.as_str()).map_err(db_err)?.is_some() {
                return Err(Error::already_exists(format!("snapshot {name:?}")));
            }
            let kk = keys::key(&[ns, sn, key]);
            let active: SnapshotRecord = db::get(&table, &kk)?.ok_or_else(|| not_found(key))?;
            if active.kind != "active" {
                return Err(Error::failed_precondition(format!(
                    "snapshot {key:?} is {}, only active snapshots can be committed",
                    active.kind
                )));
            }
            if has_children(&table, ns, sn, key)? {
                return Err(Error::failed_precondition(format!(
                    "cannot commit snapshot {key:?} with children"
                )));
            }
            let seq = next_sequence(txn, sn)?;
            let backend_name = format!("{ns}/{seq}/{name}");
            // The committed snapshot has the commit's labels only, as in
            // containerd (the active one's are not carried over).
            let mut merged = labels;
            merged.retain(|_, v| !v.is_empty());
            backend.commit(&backend_name, &active.backend_key, inherited(&merged))?;
            let now = Utc::now();
            let record = SnapshotRecord {
                backend_key: backend_name,
                parent: active.parent.clone(),
                kind: "committed".into(),
                labels: merged,
                created_at: now,
                updated_at: now,
            };
            table.remove(kk.as_str()).map_err(db_err)?;
            table
                .insert(nk.as_str(), encode(&record)?.as_slice())
                .map_err(db_err)?;
            if let Some(lease) = lease {
                add_resource_in(txn, ns, lease, &snapshot_resource(sn, name))?;
            }
            Ok(())
        })
    }

    /// Removes `key` from `ns` and its backend snapshot; refused while it has children.
    pub fn remove(&self, ns: &str, sn: &str, key: &str) -> Result<()> {
        let backend = self.backend(sn)?.clone();
        let removed = self.db.write(|txn| {
            let mut table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            let k = keys::key(&[ns, sn, key]);
            let r: SnapshotRecord = db::get(&table, &k)?.ok_or_else(|| not_found(key))?;
            if has_children(&table, ns, sn, key)? {
                return Err(Error::failed_precondition(
                    "cannot remove snapshot with child",
                ));
            }
            table.remove(k.as_str()).map_err(db_err)?;
            Ok(r)
        })?;
        self.remove_backend(sn, &backend, &removed.backend_key);
        Ok(())
    }

    /// The info of `key` in `ns`.
    pub fn stat(&self, ns: &str, sn: &str, key: &str) -> Result<Info> {
        self.backend(sn)?;
        Ok(info_of(key, &self.record(ns, sn, key)?))
    }

    /// Updates labels of `info.name` per containerd's field paths.
    pub fn update(&self, ns: &str, sn: &str, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.backend(sn)?;
        let key = info.name.clone();
        self.db.write(|txn| {
            let mut table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            let k = keys::key(&[ns, sn, &key]);
            let mut r: SnapshotRecord = db::get(&table, &k)?.ok_or_else(|| not_found(&key))?;
            if fieldpaths.is_empty() {
                r.labels = info.labels.clone();
            }
            for path in fieldpaths {
                if !crate::objects::apply_map_path(&mut r.labels, &info.labels, path, "labels") {
                    return Err(Error::invalid_argument(format!(
                        "cannot update {path:?} field on snapshot {key:?}"
                    )));
                }
            }
            r.labels.retain(|_, v| !v.is_empty());
            crated_core::identifiers::validate_labels(&r.labels)?;
            r.updated_at = Utc::now();
            table
                .insert(k.as_str(), encode(&r)?.as_slice())
                .map_err(db_err)?;
            Ok(info_of(&key, &r))
        })
    }

    /// The disk usage of `key`.
    pub fn usage(&self, ns: &str, sn: &str, key: &str) -> Result<Usage> {
        let backend = self.backend(sn)?;
        let r = self.record(ns, sn, key)?;
        backend.usage(&r.backend_key)
    }

    /// Every snapshot of `sn` in `ns`.
    pub fn list(&self, ns: &str, sn: &str) -> Result<Vec<Info>> {
        self.backend(sn)?;
        self.db.read(|txn| {
            let table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
            let rows: Vec<(String, SnapshotRecord)> = db::scan(&table, &keys::prefix(&[ns, sn]))?;
            Ok(rows
                .iter()
                .filter_map(|(k, r)| keys::split(k).get(2).map(|key| info_of(key, r)))
                .collect())
        })
    }

    /// Removes backend directories no namespace refers to.
    pub fn cleanup(&self, sn: &str) -> Result<()> {
        self.backend(sn)?.cleanup()
    }
}

/// The next number of snapshotter `sn`'s sequence, for unique backend keys.
fn next_sequence(txn: &redb::WriteTransaction, sn: &str) -> Result<u64> {
    let mut table = txn.open_table(SEQUENCES).map_err(db_err)?;
    let seq = table
        .get(sn)
        .map_err(db_err)?
        .map(|v| v.value())
        .unwrap_or(0)
        + 1;
    table.insert(sn, seq).map_err(db_err)?;
    Ok(seq)
}

fn snapshot_resource(sn: &str, key: &str) -> LeaseResource {
    LeaseResource {
        id: key.to_string(),
        kind: format!("snapshots/{sn}"),
    }
}

fn has_children(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    ns: &str,
    sn: &str,
    key: &str,
) -> Result<bool> {
    let rows: Vec<(String, SnapshotRecord)> = db::scan(table, &keys::prefix(&[ns, sn]))?;
    Ok(rows.iter().any(|(_, r)| r.parent == key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fake;

    fn setup() -> (tempfile::TempDir, NamespacedSnapshots, Arc<Fake>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db")).unwrap();
        let fake = Arc::new(Fake::default());
        let backends: HashMap<String, Arc<dyn Snapshotter>> =
            HashMap::from([("fake".to_string(), fake.clone() as Arc<dyn Snapshotter>)]);
        (dir, NamespacedSnapshots::new(db, backends), fake)
    }

    #[test]
    fn namespaces_have_independent_keys_over_unique_backend_keys() {
        let (_d, s, fake) = setup();
        s.prepare("a", "fake", "k", "", HashMap::new(), None)
            .unwrap();
        s.prepare("b", "fake", "k", "", HashMap::new(), None)
            .unwrap();
        assert_eq!(fake.snaps.lock().unwrap().len(), 2);
        assert_eq!(
            s.prepare("a", "fake", "k", "", HashMap::new(), None)
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );
        s.commit("a", "fake", "layer1", "k", HashMap::new(), None)
            .unwrap();
        assert_eq!(s.stat("a", "fake", "layer1").unwrap().kind, Kind::Committed);
        assert_eq!(
            s.stat("a", "fake", "k").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(s.stat("b", "fake", "k").unwrap().kind, Kind::Active);
        assert_eq!(
            s.stat("b", "fake", "layer1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn parents_children_and_errors() {
        let (_d, s, _fake) = setup();
        s.prepare("a", "fake", "k", "", HashMap::new(), None)
            .unwrap();
        s.commit("a", "fake", "base", "k", HashMap::new(), None)
            .unwrap();
        s.view("a", "fake", "v", "base", HashMap::new(), None)
            .unwrap();
        assert_eq!(s.stat("a", "fake", "v").unwrap().parent, "base");
        assert_eq!(
            s.commit("a", "fake", "x", "v", HashMap::new(), None)
                .unwrap_err()
                .kind(),
            ErrorKind::FailedPrecondition
        );
        assert_eq!(
            s.remove("a", "fake", "base").unwrap_err().kind(),
            ErrorKind::FailedPrecondition
        );
        assert_eq!(
            s.prepare("a", "fake", "c", "nope", HashMap::new(), None)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            s.prepare("a", "missing", "c", "", HashMap::new(), None)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        s.remove("a", "fake", "v").unwrap();
        s.remove("a", "fake", "base").unwrap();
        assert!(s.list("a", "fake").unwrap().is_empty());
    }

    #[test]
    fn labels_and_leases() {
        let (_d, s, _fake) = setup();
        let leases = crate::Leases::new(s.db.clone());
        leases.create("a", "l", HashMap::new()).unwrap();
        let labels = HashMap::from([("x".to_string(), "1".to_string())]);
        s.prepare("a", "fake", "k", "", labels.clone(), Some("l"))
            .unwrap();
        assert_eq!(s.stat("a", "fake", "k").unwrap().labels, labels);
        let mut info = s.stat("a", "fake", "k").unwrap();
        info.labels.insert("y".into(), "2".into());
        let updated = s
            .update("a", "fake", info.clone(), &["labels.y".into()])
            .unwrap();
        assert_eq!(updated.labels.len(), 2);
        assert_eq!(
            s.update("a", "fake", info, &["parent".into()])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        let res = leases.list_resources("a", "l").unwrap();
        assert_eq!(res[0].kind, "snapshots/fake");
    }
}
