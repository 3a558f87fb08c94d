//! Consistency checks between the records and the stores, for `crated
//! fsck` and the daemon's startup reconcile: blobs and backend snapshots
//! that no record holds (collectable), and records whose blob or backend
//! snapshot is gone (corruption). Meant for a stopped daemon: a write in
//! flight has its bytes or backend snapshot before its record.

use std::collections::{HashMap, HashSet};

use crated_core::{ErrorKind, Result};
use redb::ReadableTable;

use crate::content::NamespacedContent;
use crate::db::{CONTENT, SNAPSHOTS, db_err, decode};
use crate::keys;
use crate::snapshots::{NamespacedSnapshots, SnapshotRecord};

/// One inconsistency between the records and the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFinding {
    /// Bytes in the store that no namespace records: nothing can reach
    /// them, so removing them loses nothing.
    Unrecorded {
        /// The blob's digest.
        digest: String,
        /// Its size in bytes.
        size: i64,
    },
    /// A namespace records a blob whose bytes are gone: readers of it fail.
    MissingBytes {
        /// The namespace holding the record.
        namespace: String,
        /// The recorded digest.
        digest: String,
    },
}

/// Compares every namespace's content records with the blobs in the store.
pub fn check_blobs(content: &NamespacedContent) -> Result<Vec<BlobFinding>> {
    let (db, store) = content.parts();
    let records: Vec<(String, String)> = db.read(|txn| {
        let table = txn.open_table(CONTENT).map_err(db_err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(db_err)? {
            let (k, _) = row.map_err(db_err)?;
            if let [ns, d] = keys::split(k.value()).as_slice() {
                out.push((ns.to_string(), d.to_string()));
            }
        }
        Ok(out)
    })?;
    let mut findings = Vec::new();
    for (ns, d) in &records {
        match store.info(d) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => findings.push(BlobFinding::MissingBytes {
                namespace: ns.clone(),
                digest: d.clone(),
            }),
            Err(e) => return Err(e),
        }
    }
    let recorded: HashSet<&str> = records.iter().map(|(_, d)| d.as_str()).collect();
    for info in store.list()? {
        if !recorded.contains(info.digest.as_str()) {
            findings.push(BlobFinding::Unrecorded {
                digest: info.digest,
                size: info.size,
            });
        }
    }
    Ok(findings)
}

/// Removes the bytes of the unrecorded blobs among `findings`; each is
/// checked again under the store's exclusive lock, so a blob a namespace
/// recorded meanwhile stays. Returns how many went.
pub fn repair_blobs(content: &NamespacedContent, findings: &[BlobFinding]) -> Result<usize> {
    let digests: Vec<String> = findings
        .iter()
        .filter_map(|f| match f {
            BlobFinding::Unrecorded { digest, .. } => Some(digest.clone()),
            BlobFinding::MissingBytes { .. } => None,
        })
        .collect();
    content.remove_unreferenced(&digests)
}

/// One inconsistency between the snapshot records and a snapshotter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotFinding {
    /// A backend snapshot no record holds, directly or as the parent of a
    /// held one: nothing can reach it.
    Unrecorded {
        /// The snapshotter.
        snapshotter: String,
        /// The backend's own key.
        backend_key: String,
    },
    /// A record whose backend snapshot is gone: mounts of it fail.
    MissingBackend {
        /// The namespace holding the record.
        namespace: String,
        /// The snapshotter.
        snapshotter: String,
        /// The key clients use.
        key: String,
        /// The backend key the record names.
        backend_key: String,
    },
}

/// Compares every namespace's snapshot records with each snapshotter.
/// Unrecorded snapshots come children first, the order removal needs.
pub fn check_snapshots(
    db: &crate::Db,
    snapshots: &NamespacedSnapshots,
) -> Result<Vec<SnapshotFinding>> {
    let records: Vec<(String, String, String, SnapshotRecord)> = db.read(|txn| {
        let table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            if let [ns, sn, key] = keys::split(k.value()).as_slice() {
                let record: SnapshotRecord = decode(k.value(), v.value())?;
                out.push((ns.to_string(), sn.to_string(), key.to_string(), record));
            }
        }
        Ok(out)
    })?;
    let mut findings = Vec::new();
    for sn in snapshots.snapshotters() {
        let mut parents: HashMap<String, String> = HashMap::new();
        snapshots.backend(&sn)?.walk(&mut |info| {
            parents.insert(info.name.clone(), info.parent.clone());
            Ok(())
        })?;
        let mut held: HashSet<String> = HashSet::new();
        for (ns, rsn, key, record) in &records {
            if *rsn != sn {
                continue;
            }
            if !parents.contains_key(&record.backend_key) {
                findings.push(SnapshotFinding::MissingBackend {
                    namespace: ns.clone(),
                    snapshotter: sn.clone(),
                    key: key.clone(),
                    backend_key: record.backend_key.clone(),
                });
                continue;
            }
            let mut at = record.backend_key.clone();
            while !at.is_empty() && held.insert(at.clone()) {
                at = parents.get(&at).cloned().unwrap_or_default();
            }
        }
        let mut doomed: Vec<String> = parents
            .keys()
            .filter(|k| !held.contains(*k))
            .cloned()
            .collect();
        doomed.sort();
        while !doomed.is_empty() {
            let busy: HashSet<&String> = doomed.iter().filter_map(|k| parents.get(k)).collect();
            let (leaves, rest): (Vec<String>, Vec<String>) =
                doomed.iter().cloned().partition(|k| !busy.contains(k));
            if leaves.is_empty() {
                break;
            }
            findings.extend(
                leaves
                    .into_iter()
                    .map(|backend_key| SnapshotFinding::Unrecorded {
                        snapshotter: sn.clone(),
                        backend_key,
                    }),
            );
            doomed = rest;
        }
    }
    Ok(findings)
}

/// Removes the unrecorded backend snapshots among `findings`, in their
/// order (children first); records whose backend is gone are left for the
/// operator, as their objects may still be wanted.
pub fn repair_snapshots(snapshots: &NamespacedSnapshots, findings: &[SnapshotFinding]) -> usize {
    let removed: Vec<(String, String)> = findings
        .iter()
        .filter_map(|f| match f {
            SnapshotFinding::Unrecorded {
                snapshotter,
                backend_key,
            } => Some((snapshotter.clone(), backend_key.clone())),
            SnapshotFinding::MissingBackend { .. } => None,
        })
        .collect();
    snapshots.remove_backends(&removed);
    removed.len()
}

/// What one reconcile found and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Blob inconsistencies found.
    pub blobs: Vec<BlobFinding>,
    /// Snapshot inconsistencies found.
    pub snapshots: Vec<SnapshotFinding>,
    /// Unrecorded blobs and backend snapshots removed.
    pub removed: usize,
}

/// Checks blobs and snapshots and removes what no record holds, as
/// containerd's collection sweeps its backing stores; records whose bytes
/// or backend are gone are reported only. Run before the daemon serves.
pub fn reconcile(
    db: &crate::Db,
    content: &NamespacedContent,
    snapshots: &NamespacedSnapshots,
) -> Result<Reconciled> {
    let blobs = check_blobs(content)?;
    let snaps = check_snapshots(db, snapshots)?;
    let removed = repair_blobs(content, &blobs)? + repair_snapshots(snapshots, &snaps);
    Ok(Reconciled {
        blobs,
        snapshots: snaps,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use crate::testutil::Fake;
    use crated_core::content::{ContentStore, WriterOptions};
    use crated_core::snapshot::{Kind, Snapshotter};
    use std::collections::HashMap;
    use std::sync::Arc;

    #[test]
    fn unrecorded_bytes_and_records_without_bytes_are_found_and_only_the_first_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db")).unwrap();
        let store: Arc<dyn ContentStore> =
            Arc::new(crated_content::LocalStore::open(dir.path().join("c")).unwrap());
        let content = NamespacedContent::new(db, store.clone());
        let mut w = content.writer("ns", "kept", 0, "", None).unwrap();
        w.write(b"kept blob").unwrap();
        let kept = w.commit(0, "", HashMap::new()).unwrap();
        let mut w = content.writer("ns", "lost", 0, "", None).unwrap();
        w.write(b"lost blob").unwrap();
        let lost = w.commit(0, "", HashMap::new()).unwrap();
        store.delete(&lost).unwrap();
        let mut raw = store
            .writer(WriterOptions {
                reference: "raw".into(),
                expected: String::new(),
                total: 0,
            })
            .unwrap();
        raw.write(b"stray bytes").unwrap();
        let stray = raw.commit(0, "").unwrap();
        let findings = check_blobs(&content).unwrap();
        assert_eq!(
            findings,
            vec![
                BlobFinding::MissingBytes {
                    namespace: "ns".into(),
                    digest: lost.clone(),
                },
                BlobFinding::Unrecorded {
                    digest: stray.clone(),
                    size: 11,
                },
            ]
        );
        assert_eq!(repair_blobs(&content, &findings).unwrap(), 1);
        assert!(store.info(&stray).is_err());
        assert!(content.reader_at("ns", &kept).is_ok(), "recorded blob kept");
        assert_eq!(
            check_blobs(&content).unwrap(),
            vec![BlobFinding::MissingBytes {
                namespace: "ns".into(),
                digest: lost,
            }]
        );
    }

    #[test]
    fn unrecorded_backend_snapshots_go_children_first_and_held_chains_stay() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db")).unwrap();
        let fake = Arc::new(Fake::default());
        let backends = HashMap::from([("fake".to_string(), fake.clone() as Arc<dyn Snapshotter>)]);
        let snapshots = NamespacedSnapshots::new(db.clone(), backends);
        snapshots
            .prepare("ns", "fake", "k1", "", HashMap::new(), None)
            .unwrap();
        snapshots
            .commit("ns", "fake", "base", "k1", HashMap::new(), None)
            .unwrap();
        snapshots
            .prepare("ns", "fake", "top", "base", HashMap::new(), None)
            .unwrap();
        snapshots
            .prepare("ns", "fake", "gone", "", HashMap::new(), None)
            .unwrap();
        let gone_backend = fake
            .snaps
            .lock()
            .unwrap()
            .keys()
            .find(|k| k.contains("gone"))
            .cloned();
        let before: HashSet<String> = fake.snaps.lock().unwrap().keys().cloned().collect();
        {
            let mut snaps = fake.snaps.lock().unwrap();
            if let Some(k) = &gone_backend {
                snaps.remove(k);
            }
            snaps.insert("stray-parent".into(), (Kind::Committed, String::new()));
            snaps.insert("stray-child".into(), (Kind::Active, "stray-parent".into()));
        }
        let findings = check_snapshots(&db, &snapshots).unwrap();
        let unrecorded: Vec<&str> = findings
            .iter()
            .filter_map(|f| match f {
                SnapshotFinding::Unrecorded { backend_key, .. } => Some(backend_key.as_str()),
                SnapshotFinding::MissingBackend { .. } => None,
            })
            .collect();
        assert_eq!(unrecorded, vec!["stray-child", "stray-parent"]);
        assert!(findings.iter().any(|f| matches!(
            f,
            SnapshotFinding::MissingBackend { key, .. } if key == "gone"
        )));
        assert_eq!(repair_snapshots(&snapshots, &findings), 2);
        let after: HashSet<String> = fake.snaps.lock().unwrap().keys().cloned().collect();
        let kept: HashSet<String> = before
            .into_iter()
            .filter(|k| Some(k) != gone_backend.as_ref())
            .collect();
        assert_eq!(after, kept, "recorded snapshots and their parents stay");
        assert_eq!(check_snapshots(&db, &snapshots).unwrap().len(), 1);
    }
}
