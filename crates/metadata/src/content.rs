//! The namespaced view of the content store: each namespace sees only the
//! blobs it wrote or referenced, with its own labels; bytes are shared.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::Utc;
use crated_core::content::{ContentStore, Info, ReaderAt, Status, Writer, WriterOptions};
use crated_core::{Error, ErrorKind, Result, digest};
use redb::ReadableTable;

use crate::db::{self, CONTENT, Db, INGESTS, NAMESPACES, db_err, encode};
use crate::keys;
use crate::leases::{LeaseResource, add_resource_in, remove_resource_in};
use crate::namespaces;
use crate::records::{BlobRecord, IngestRecord};

/// Content as namespaces see it, over a shared backing store.
#[derive(Clone)]
pub struct NamespacedContent {
    db: Db,
    store: Arc<dyn ContentStore>,
    /// Held shared while a write turns bytes in the store into a namespace
    /// record, and exclusively while unreferenced bytes are removed (as
    /// containerd's content store lock), so a blob that is being recorded
    /// is never removed under it.
    bytes: Arc<RwLock<()>>,
}

fn content_not_found(d: &str) -> Error {
    Error::not_found(format!("content digest {d}"))
}

fn ingest_not_found(reference: &str) -> Error {
    Error::not_found(format!("ingest ref {reference:?}"))
}

fn info_of(d: &str, r: BlobRecord) -> Info {
    Info {
        digest: d.to_string(),
        size: r.size,
        created_at: r.created_at,
        updated_at: r.updated_at,
        labels: r.labels,
    }
}

fn content_resource(d: &str) -> LeaseResource {
    LeaseResource {
        id: d.to_string(),
        kind: "content".into(),
    }
}

fn ingest_resource(reference: &str) -> LeaseResource {
    LeaseResource {
        id: reference.to_string(),
        kind: "ingests".into(),
    }
}

/// Whether any namespace of `names` has a record of `d` in `content`.
fn referenced(
    content: &impl ReadableTable<&'static str, &'static [u8]>,
    names: &impl ReadableTable<&'static str, &'static [u8]>,
    d: &str,
) -> Result<bool> {
    for row in names.iter().map_err(db_err)? {
        let (name, _) = row.map_err(db_err)?;
        if content
            .get(keys::key(&[name.value(), d]).as_str())
            .map_err(db_err)?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Drops labels with empty values, as containerd does when storing them.
fn clean_labels(mut labels: HashMap<String, String>) -> HashMap<String, String> {
    labels.retain(|_, v| !v.is_empty());
    labels
}

impl NamespacedContent {
    /// A namespaced view over `store`, recording references in `db`.
    pub fn new(db: Db, store: Arc<dyn ContentStore>) -> Self {
        NamespacedContent {
            db,
            store,
            bytes: Arc::new(RwLock::new(())),
        }
    }

    /// Namespace `ns`'s view of the content as the core content traits.
    pub fn namespaced(&self, ns: &str) -> crate::NamespacedContentStore {
        crate::NamespacedContentStore::new(self.clone(), ns)
    }

    /// The info of `d` in namespace `ns`.
    pub fn info(&self, ns: &str, d: &str) -> Result<Info> {
        digest::validate(d)?;
        self.db.read(|txn| {
            let table = txn.open_table(CONTENT).map_err(db_err)?;
            let record: Option<BlobRecord> = db::get(&table, &keys::key(&[ns, d]))?;
            record
                .map(|r| info_of(d, r))
                .ok_or_else(|| content_not_found(d))
        })
    }

    /// Every blob visible in `ns`.
    pub fn list(&self, ns: &str) -> Result<Vec<Info>> {
        self.db.read(|txn| {
            let table = txn.open_table(CONTENT).map_err(db_err)?;
            let rows: Vec<(String, BlobRecord)> = db::scan(&table, &keys::prefix(&[ns]))?;
            Ok(rows
                .into_iter()
                .filter_map(|(k, r)| keys::split(&k).get(1).map(|d| info_of(d, r)))
                .collect())
        })
    }

    /// Updates the labels of `info.digest` in `ns` following containerd's
    /// field paths: none or `labels` replace all labels, `labels.<key>` sets
    /// one key (an empty value removes it); anything else is refused.
    pub fn update(&self, ns: &str, info: Info, fieldpaths: &[String]) -> Result<Info> {
        digest::validate(&info.digest)?;
        let mut bad = None;
        for path in fieldpaths {
            if path != "labels" && !path.starts_with("labels.") {
                bad = Some(path.clone());
            }
        }
        if let Some(path) = bad {
            return Err(Error::invalid_argument(format!(
                "cannot update {path:?} field on content info {:?}",
                info.digest
            )));
        }
        let d = info.digest.clone();
        self.db.write(|txn| {
            let mut table = txn.open_table(CONTENT).map_err(db_err)?;
            let k = keys::key(&[ns, &d]);
            let mut record: BlobRecord =
                db::get(&table, &k)?.ok_or_else(|| content_not_found(&d))?;
            let mut labels = record.labels.clone();
            if fieldpaths.is_empty() {
                labels = info.labels.clone();
            }
            for path in fieldpaths {
                if path == "labels" {
                    labels = info.labels.clone();
                } else if let Some(key) = path.strip_prefix("labels.") {
                    match info.labels.get(key) {
                        Some(v) => labels.insert(key.to_string(), v.clone()),
                        None => labels.remove(key),
                    };
                }
            }
            let labels = clean_labels(labels);
            crated_core::identifiers::validate_labels(&labels)?;
            record.labels = labels;
            record.updated_at = Utc::now();
            table
                .insert(k.as_str(), encode(&record)?.as_slice())
                .map_err(db_err)?;
            Ok(info_of(&d, record))
        })
    }

    /// Removes `d` from `ns`; the bytes go once no namespace refers to them.
    pub fn delete(&self, ns: &str, d: &str) -> Result<()> {
        digest::validate(d)?;
        let _exclusive = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        let still_used = self.db.write(|txn| {
            let mut table = txn.open_table(CONTENT).map_err(db_err)?;
            if table
                .remove(keys::key(&[ns, d]).as_str())
                .map_err(db_err)?
                .is_none()
            {
                return Err(content_not_found(d));
            }
            let names = txn.open_table(NAMESPACES).map_err(db_err)?;
            referenced(&table, &names, d)
        })?;
        if !still_used {
            self.remove_bytes(d);
        }
        Ok(())
    }

    /// The shared backing store and the database (for the consistency
    /// check in [`crate::fsck`]).
    pub(crate) fn parts(&self) -> (&Db, &dyn ContentStore) {
        (&self.db, self.store.as_ref())
    }

    /// Removes the bytes of every digest of `digests` that no namespace
    /// refers to (after a collection removed their records).
    pub(crate) fn remove_unreferenced(&self, digests: &[String]) -> Result<usize> {
        if digests.is_empty() {
            return Ok(0);
        }
        let _exclusive = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<&String> = self.db.read(|txn| {
            let table = txn.open_table(CONTENT).map_err(db_err)?;
            let names = txn.open_table(NAMESPACES).map_err(db_err)?;
            let mut out = Vec::new();
            for d in digests {
                if !referenced(&table, &names, d)? {
                    out.push(d);
                }
            }
            Ok(out)
        })?;
        for d in &doomed {
            self.remove_bytes(d);
        }
        Ok(doomed.len())
    }

    fn remove_bytes(&self, d: &str) {
        match self.store.delete(d) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                tracing::warn!(digest = d, error = %e, "removing unreferenced blob failed");
            }
            _ => {}
        }
    }

    /// A reader of `d` as seen from `ns`.
    pub fn reader_at(&self, ns: &str, d: &str) -> Result<Box<dyn ReaderAt>> {
        self.info(ns, d)?;
        self.store.reader_at(d)
    }

    /// Opens or resumes the write `reference` in `ns`. When `expected` is
    /// already in `ns`, or anywhere in the shared store, the blob is (made)
    /// visible in `ns` and `AlreadyExists` is returned. The write and, on
    /// commit, the blob are added to `lease` when given.
    pub fn writer(
        &self,
        ns: &str,
        reference: &str,
        total: i64,
        expected: &str,
        lease: Option<&str>,
    ) -> Result<NamespacedWriter> {
        if reference.is_empty() || reference.contains('\0') {
            return Err(Error::invalid_argument(
                "ref must be non-empty and must not contain NUL",
            ));
        }
        if !expected.is_empty() {
            digest::validate(expected)?;
            if let Some(exists) = self.existing(ns, expected, lease)? {
                return Err(exists);
            }
        }
        let backend_ref = format!("{ns}/{reference}");
        let created = self.db.write(|txn| {
            namespaces::ensure(txn, ns)?;
            let mut table = txn.open_table(INGESTS).map_err(db_err)?;
            let k = keys::key(&[ns, reference]);
            let existing: Option<IngestRecord> = db::get(&table, &k)?;
            if existing.is_none() {
                let record = IngestRecord {
                    backend_ref: backend_ref.clone(),
                    expected: expected.to_string(),
                    lease: lease.map(str::to_string),
                };
                table
                    .insert(k.as_str(), encode(&record)?.as_slice())
                    .map_err(db_err)?;
            }
            if let Some(lease) = lease {
                add_resource_in(txn, ns, lease, &ingest_resource(reference))?;
            }
            Ok(existing.is_none())
        })?;
        let opened = self.store.writer(WriterOptions {
            reference: backend_ref,
            total,
            expected: expected.to_string(),
        });
        let inner = match opened {
            Ok(inner) => inner,
            // Another writer committed the blob while this one waited for
            // the ref: it is treated as existing from the start.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && !expected.is_empty() => {
                if created {
                    self.drop_ingest(ns, reference, lease)?;
                }
                return Err(self
                    .existing(ns, expected, lease)?
                    .unwrap_or_else(|| e.context(format!("ref {reference:?}"))));
            }
            Err(e) => return Err(e.context(format!("ref {reference:?}"))),
        };
        Ok(NamespacedWriter {
            content: self.clone(),
            ns: ns.to_string(),
            reference: reference.to_string(),
            lease: lease.map(str::to_string),
            inner,
        })
    }

    /// When `ns` or the shared store already has `expected`: makes it
    /// visible in `ns` and adds it to `lease` (committed), and returns the
    /// `AlreadyExists` to answer, as containerd does before it answers so.
    fn existing(&self, ns: &str, expected: &str, lease: Option<&str>) -> Result<Option<Error>> {
        let exists = || Error::already_exists(format!("content {expected}"));
        if self.info(ns, expected).is_ok() && self.lease_existing(ns, expected, lease)? {
            return Ok(Some(exists()));
        }
        let _shared = self.bytes.read().unwrap_or_else(PoisonError::into_inner);
        let Ok(shared) = self.store.info(expected) else {
            return Ok(None);
        };
        match self.add_blob(ns, expected, shared.size, HashMap::new(), lease, None) {
            Ok(()) => Ok(Some(exists())),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Some(e)),
            Err(e) => Err(e),
        }
    }

    /// Removes the ingest record of `reference` (and its lease resource).
    fn drop_ingest(&self, ns: &str, reference: &str, lease: Option<&str>) -> Result<()> {
        self.db.write(|txn| {
            let mut table = txn.open_table(INGESTS).map_err(db_err)?;
            table
                .remove(keys::key(&[ns, reference]).as_str())
                .map_err(db_err)?;
            drop(table);
            if let Some(lease) = lease {
                remove_resource_in(txn, ns, lease, &ingest_resource(reference))?;
            }
            Ok(())
        })
    }

    /// Adds `d`, which `ns` has, to `lease` in a committed transaction;
    /// false if `ns` no longer has it (a collection took it meanwhile).
    fn lease_existing(&self, ns: &str, d: &str, lease: Option<&str>) -> Result<bool> {
        let Some(lease) = lease else {
            return Ok(true);
        };
        self.db.write(|txn| {
            let table = txn.open_table(CONTENT).map_err(db_err)?;
            let exists = table
                .get(keys::key(&[ns, d]).as_str())
                .map_err(db_err)?
                .is_some();
            drop(table);
            if exists {
                add_resource_in(txn, ns, lease, &content_resource(d))?;
            }
            Ok(exists)
        })
    }

    /// Records `d` in `ns` (and in `lease`), dropping the ingest record
    /// `finished_ref` if given. `AlreadyExists` if `ns` already has it; the
    /// lease and the ingest record are updated (committed) either way, as
    /// containerd does.
    fn add_blob(
        &self,
        ns: &str,
        d: &str,
        size: i64,
        labels: HashMap<String, String>,
        lease: Option<&str>,
        finished_ref: Option<&str>,
    ) -> Result<()> {
        let labels = clean_labels(labels);
        crated_core::identifiers::validate_labels(&labels)?;
        let added = self.db.write(|txn| {
            namespaces::ensure(txn, ns)?;
            if let Some(reference) = finished_ref {
                let mut ingests = txn.open_table(INGESTS).map_err(db_err)?;
                ingests
                    .remove(keys::key(&[ns, reference]).as_str())
                    .map_err(db_err)?;
                if let Some(lease) = lease {
                    remove_resource_in(txn, ns, lease, &ingest_resource(reference))?;
                }
            }
            if let Some(lease) = lease {
                add_resource_in(txn, ns, lease, &content_resource(d))?;
            }
            let mut table = txn.open_table(CONTENT).map_err(db_err)?;
            let k = keys::key(&[ns, d]);
            if table.get(k.as_str()).map_err(db_err)?.is_some() {
                return Ok(false);
            }
            let now = Utc::now();
            let record = BlobRecord {
                size,
                labels,
                created_at: now,
                updated_at: now,
            };
            table
                .insert(k.as_str(), encode(&record)?.as_slice())
                .map_err(db_err)?;
            Ok(true)
        })?;
        if added {
            Ok(())
        } else {
            Err(Error::already_exists(format!("content {d}")))
        }
    }

    fn ingest(&self, ns: &str, reference: &str) -> Result<IngestRecord> {
        self.db.read(|txn| {
            let table = txn.open_table(INGESTS).map_err(db_err)?;
            db::get(&table, &keys::key(&[ns, reference]))?
                .ok_or_else(|| ingest_not_found(reference))
        })
    }

    /// The state of the write `reference` in `ns`.
    pub fn status(&self, ns: &str, reference: &str) -> Result<Status> {
        let record = self.ingest(ns, reference)?;
        let mut status = self
            .store
            .status(&record.backend_ref)
            .map_err(|e| e.context(format!("ref {reference:?}")))?;
        status.reference = reference.to_string();
        if status.expected.is_empty() {
            status.expected = record.expected;
        }
        Ok(status)
    }

    /// Every write in progress in `ns`.
    pub fn list_statuses(&self, ns: &str) -> Result<Vec<Status>> {
        let refs: Vec<String> = self.db.read(|txn| {
            let table = txn.open_table(INGESTS).map_err(db_err)?;
            let rows: Vec<(String, IngestRecord)> = db::scan(&table, &keys::prefix(&[ns]))?;
            Ok(rows
                .into_iter()
                .filter_map(|(k, _)| keys::split(&k).get(1).map(|r| r.to_string()))
                .collect())
        })?;
        let mut out = Vec::new();
        for reference in refs {
            match self.status(ns, &reference) {
                Ok(s) => out.push(s),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Abandons the write `reference` in `ns` and removes its data.
    pub fn abort(&self, ns: &str, reference: &str) -> Result<()> {
        let record = self.ingest(ns, reference)?;
        match self.store.abort(&record.backend_ref) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.drop_ingest(ns, reference, record.lease.as_deref())
    }
}

/// A write in progress in one namespace.
pub struct NamespacedWriter {
    content: NamespacedContent,
    ns: String,
    reference: String,
    lease: Option<String>,
    inner: Box<dyn Writer>,
}

impl NamespacedWriter {
    /// Appends `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner.write(data)
    }

    /// The digest of what was written so far.
    pub fn digest(&self) -> String {
        self.inner.digest()
    }

    /// The state of the write, named by the namespace's ref.
    pub fn status(&self) -> Result<Status> {
        let mut status = self.inner.status()?;
        status.reference = self.reference.clone();
        Ok(status)
    }

    /// Discards everything after `size` (only 0 is supported by the local store).
    pub fn truncate(&mut self, size: i64) -> Result<()> {
        self.inner.truncate(size)
    }

    /// Verifies and commits the blob, then makes it visible in the
    /// namespace with `labels`. Returns the committed digest.
    pub fn commit(
        &mut self,
        size: i64,
        expected: &str,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let written = self.inner.status()?.offset;
        let content = self.content.clone();
        let _shared = content.bytes.read().unwrap_or_else(PoisonError::into_inner);
        let d = match self.inner.commit(size, expected) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if expected.is_empty() {
                    self.inner.digest()
                } else {
                    expected.to_string()
                }
            }
            Err(e) => return Err(e),
        };
        let size = if size > 0 { size } else { written };
        self.content.add_blob(
            &self.ns,
            &d,
            size,
            labels,
            self.lease.as_deref(),
            Some(&self.reference),
        )?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::content::ContentStore;
    use sha2::{Digest, Sha256};

    fn setup() -> (tempfile::TempDir, NamespacedContent) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("meta.db")).unwrap();
        let store: Arc<dyn ContentStore> =
            Arc::new(crated_content::LocalStore::open(dir.path().join("content")).unwrap());
        (dir, NamespacedContent::new(db, store))
    }

    fn digest_of(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    fn write(c: &NamespacedContent, ns: &str, r: &str, data: &[u8]) -> Result<String> {
        let mut w = c.writer(ns, r, data.len() as i64, "", None)?;
        w.write(data)?;
        w.commit(
            data.len() as i64,
            &digest_of(data),
            HashMap::from([("k".to_string(), "v".to_string())]),
        )
    }

    #[test]
    fn blobs_are_visible_only_where_written_or_referenced() {
        let (_dir, c) = setup();
        let d = write(&c, "a", "ref1", b"hello").unwrap();
        assert_eq!(c.info("a", &d).unwrap().size, 5);
        assert_eq!(c.info("a", &d).unwrap().labels["k"], "v");
        assert_eq!(c.info("b", &d).unwrap_err().kind(), ErrorKind::NotFound);
        assert!(c.list("b").unwrap().is_empty());
        let err = c.writer("b", "ref2", 5, &d, None).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(c.info("b", &d).unwrap().size, 5);
        c.delete("a", &d).unwrap();
        assert!(
            c.reader_at("b", &d).is_ok(),
            "bytes stay while b refers to them"
        );
        c.delete("b", &d).unwrap();
        assert_eq!(c.delete("b", &d).unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn statuses_are_per_namespace_and_resumable() {
        let (_dir, c) = setup();
        {
            let mut w = c.writer("a", "r", 10, "", None).unwrap();
            w.write(b"12345").unwrap();
        }
        assert_eq!(c.status("a", "r").unwrap().offset, 5);
        assert_eq!(c.list_statuses("a").unwrap().len(), 1);
        assert!(c.list_statuses("b").unwrap().is_empty());
        assert_eq!(c.status("b", "r").unwrap_err().kind(), ErrorKind::NotFound);
        let mut w = c.writer("a", "r", 10, "", None).unwrap();
        assert_eq!(w.status().unwrap().offset, 5);
        assert_eq!(
            c.writer("a", "r", 10, "", None).err().unwrap().kind(),
            ErrorKind::Unavailable
        );
        w.write(b"67890").unwrap();
        let d = w
            .commit(10, &digest_of(b"1234567890"), HashMap::new())
            .unwrap();
        assert_eq!(d, digest_of(b"1234567890"));
        assert!(c.list_statuses("a").unwrap().is_empty());
        c.writer("a", "x", 0, "", None)
            .unwrap()
            .write(b"zz")
            .unwrap();
        c.abort("a", "x").unwrap();
        assert_eq!(c.abort("a", "x").unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn update_follows_field_paths() {
        let (_dir, c) = setup();
        let d = write(&c, "a", "r", b"data").unwrap();
        let mut info = c.info("a", &d).unwrap();
        info.labels = HashMap::from([("n".to_string(), "1".to_string())]);
        let out = c
            .update("a", info.clone(), &["labels.n".to_string()])
            .unwrap();
        assert_eq!(out.labels.len(), 2);
        let out = c
            .update("a", info.clone(), &["labels".to_string()])
            .unwrap();
        assert_eq!(out.labels, info.labels);
        let err = c.update("a", info, &["size".to_string()]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn leases_hold_ingests_then_blobs() {
        let (_dir, c) = setup();
        let leases = crate::Leases::new(c.db.clone());
        leases.create("a", "l", HashMap::new()).unwrap();
        let mut w = c.writer("a", "r", 3, "", Some("l")).unwrap();
        assert_eq!(leases.list_resources("a", "l").unwrap()[0].kind, "ingests");
        w.write(b"abc").unwrap();
        let d = w.commit(3, "", HashMap::new()).unwrap();
        let res = leases.list_resources("a", "l").unwrap();
        assert_eq!(res.len(), 1);
        assert_eq!(
            (res[0].kind.as_str(), res[0].id.as_str()),
            ("content", d.as_str())
        );
    }

    #[test]
    fn wrong_digest_fails_and_nothing_is_visible() {
        let (_dir, c) = setup();
        let mut w = c.writer("a", "r", 0, "", None).unwrap();
        w.write(b"abc").unwrap();
        let err = w.commit(3, &digest_of(b"xyz"), HashMap::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert!(c.list("a").unwrap().is_empty());
    }

    #[test]
    fn namespace_with_content_cannot_be_deleted() {
        let (_dir, c) = setup();
        write(&c, "a", "r", b"x").unwrap();
        let ns = crate::Namespaces::new(c.db.clone());
        let err = ns.delete("a").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert!(err.message().contains("blobs"), "{err}");
    }

    /// As containerd: a commit that finds the blob already in the
    /// namespace removes the ingest and still leases the blob.
    #[test]
    fn a_commit_ending_in_already_exists_removes_the_ingest() {
        let (_dir, c) = setup();
        let leases = crate::Leases::new(c.db.clone());
        leases.create("a", "l", HashMap::new()).unwrap();
        let data = b"same bytes";
        let mut late = c.writer("a", "late", 0, "", Some("l")).unwrap();
        late.write(data).unwrap();
        write(&c, "a", "early", data).unwrap();
        let err = late
            .commit(0, &digest_of(data), HashMap::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        drop(late);
        assert_eq!(
            c.status("a", "late").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(c.list_statuses("a").unwrap().is_empty());
        let res = leases.list_resources("a", "l").unwrap();
        assert_eq!(res.len(), 1, "{res:?}");
        assert_eq!(res[0].kind, "content");
        let mut again = c.writer("a", "late", 0, "", None).unwrap();
        assert_eq!(
            again.status().unwrap().offset,
            0,
            "a reopened writer starts at 0"
        );
        again.write(data).unwrap();
        let err = again
            .commit(0, &digest_of(data), HashMap::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    }
}
