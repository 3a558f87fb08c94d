//! Consistency checks between the content records and the shared blob
//! store, for `crated fsck` and the daemon's startup reconcile: blobs on
//! disk that no namespace records (collectable bytes), and records whose
//! blob is gone (corruption).

use std::collections::HashSet;

use crated_core::{ErrorKind, Result};
use redb::ReadableTable;

use crate::content::NamespacedContent;
use crate::db::{CONTENT, db_err};
use crate::keys;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use crated_core::content::{ContentStore, WriterOptions};
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
}
