//! containerd's metadata buckets, decoded.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use crated_bolt::{Bucket, Db, Value};

use crate::decode::{go_time, string, varint};
use crate::{Error, Result};

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// An image record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its name (reference).
    pub name: String,
    /// The target's media type.
    pub media_type: String,
    /// The target's digest.
    pub digest: String,
    /// The target's size.
    pub size: i64,
    /// Labels.
    pub labels: Labels,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
}

/// A container record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its id.
    pub id: String,
    /// The image it was made from, if any.
    pub image: String,
    /// The runtime name, e.g. `io.containerd.runc.v2`.
    pub runtime: String,
    /// The runtime options (a protobuf `Any`, kept as written).
    pub runtime_options: Vec<u8>,
    /// The OCI spec (a protobuf `Any`, kept as written).
    pub spec: Vec<u8>,
    /// Its snapshotter.
    pub snapshotter: String,
    /// Its snapshot key.
    pub snapshot_key: String,
    /// Labels.
    pub labels: Labels,
    /// Names of its extensions.
    pub extensions: Vec<String>,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Its id.
    pub id: String,
    /// Labels (`containerd.io/gc.expire` among them).
    pub labels: Labels,
    /// Digests of the content it holds.
    pub content: Vec<String>,
    /// `(snapshotter, key)` of the snapshots it holds.
    pub snapshots: Vec<(String, String)>,
    /// Ingest refs it holds.
    pub ingests: Vec<String>,
}

/// A content record of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: i64,
    /// Labels.
    pub labels: Labels,
}

/// A snapshot record of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshotter.
    pub snapshotter: String,
    /// The namespace's key.
    pub key: String,
    /// The key in the snapshotter's own store.
    pub backend_key: String,
    /// The parent's key, empty for none.
    pub parent: String,
    /// Labels.
    pub labels: Labels,
}

/// Everything of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Images.
    pub images: Vec<Image>,
    /// Containers.
    pub containers: Vec<Container>,
    /// Leases.
    pub leases: Vec<Lease>,
    /// Content records.
    pub blobs: Vec<Blob>,
    /// Snapshot records.
    pub snapshots: Vec<Snapshot>,
    /// Buckets present but not read (e.g. `sandboxes`), by name.
    pub other_buckets: Vec<String>,
}

/// Something crated cannot adopt, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unadoptable {
    /// What it is, e.g. `namespace k8s.io: sandboxes`.
    pub what: String,
    /// Why it cannot be adopted.
    pub reason: String,
}

/// A containerd root's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The schema version (`v1/version`).
    pub schema_version: i64,
    /// The namespaces.
    pub namespaces: Vec<Namespace>,
}

/// The snapshotters whose on-disk layouts crated's own read in place.
const ADOPTABLE_SNAPSHOTTERS: [&str; 2] = ["overlayfs", "native"];

impl Inventory {
    /// What cannot be adopted, with reasons.
    pub fn unadoptable(&self) -> Vec<Unadoptable> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            for bucket in &ns.other_buckets {
                out.push(Unadoptable {
                    what: format!("namespace {}: {bucket}", ns.name),
                    reason: format!("crated does not read containerd's {bucket:?} records yet"),
                });
            }
            for s in &ns.snapshots {
                if !ADOPTABLE_SNAPSHOTTERS.contains(&s.snapshotter.as_str()) {
                    out.push(Unadoptable {
                        what: format!("namespace {}: snapshot {} ({})", ns.name, s.key, s.snapshotter),
                        reason: format!(
                            "the {} snapshotter's layout is not one crated reuses in place (only overlayfs and native)",
                            s.snapshotter
                        ),
                    });
                }
            }
        }
        out
    }
}

/// Reads `meta.db` (a file no containerd has open, or a copy).
pub fn read_meta_db(path: &Path) -> Result<Inventory> {
    let db = Db::open(path)?;
    let Some(v1) = db.root().bucket(b"v1")? else {
        return Ok(Inventory::default());
    };
    let mut inventory = Inventory {
        schema_version: match v1.bytes(b"version")? {
            Some(b) => varint(b)?,
            None => 0,
        },
        namespaces: Vec::new(),
    };
    for (name, value) in v1.entries()? {
        let Value::Bucket(ns) = value else { continue };
        inventory.namespaces.push(namespace(string(name)?, ns)?);
    }
    Ok(inventory)
}

fn namespace(name: String, bucket: Bucket<'_>) -> Result<Namespace> {
    let mut ns = Namespace {
        name,
        ..Namespace::default()
    };
    for (key, value) in bucket.entries()? {
        let Value::Bucket(b) = value else { continue };
        match key {
            b"labels" => ns.labels = labels(Some(b))?,
            b"images" => ns.images = each(b, image)?,
            b"containers" => ns.containers = each(b, container)?,
            b"leases" => ns.leases = each(b, lease)?,
            b"content" => {
                if let Some(blobs) = b.bucket(b"blob")? {
                    ns.blobs = each(blobs, blob)?;
                }
            }
            b"snapshots" => {
                for (snapshotter, v) in b.entries()? {
                    let Value::Bucket(sb) = v else { continue };
                    let snapshotter = string(snapshotter)?;
                    for (k, v) in sb.entries()? {
                        let Value::Bucket(s) = v else { continue };
                        ns.snapshots.push(snapshot(&snapshotter, string(k)?, s)?);
                    }
                }
            }
            other => ns
                .other_buckets
                .push(String::from_utf8_lossy(other).into_owned()),
        }
    }
    Ok(ns)
}

fn each<T>(bucket: Bucket<'_>, f: impl Fn(String, Bucket<'_>) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (key, value) in bucket.entries()? {
        if let Value::Bucket(b) = value {
            out.push(f(string(key)?, b)?);
        }
    }
    Ok(out)
}

fn labels(bucket: Option<Bucket<'_>>) -> Result<Labels> {
    let mut out = Labels::new();
    if let Some(b) = bucket {
        for (k, v) in b.entries()? {
            if let Value::Bytes(v) = v {
                out.insert(string(k)?, string(v)?);
            }
        }
    }
    Ok(out)
}

fn text(bucket: &Bucket<'_>, key: &[u8]) -> Result<String> {
    bucket.bytes(key)?.map_or(Ok(String::new()), string)
}

fn keys(bucket: Option<Bucket<'_>>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(b) = bucket {
        for (k, _) in b.entries()? {
            out.push(string(k)?);
        }
    }
    Ok(out)
}

fn image(name: String, b: Bucket<'_>) -> Result<Image> {
    let target = b
        .bucket(b"target")?
        .ok_or_else(|| Error::Schema(format!("image {name:?} has no target")))?;
    Ok(Image {
        media_type: text(&target, b"mediatype")?,
        digest: text(&target, b"digest")?,
        size: target.bytes(b"size")?.map_or(Ok(0), varint)?,
        labels: labels(b.bucket(b"labels")?)?,
        created_at: b.bytes(b"createdat")?.map(go_time).transpose()?,
        name,
    })
}

fn container(id: String, b: Bucket<'_>) -> Result<Container> {
    let runtime = b.bucket(b"runtime")?;
    Ok(Container {
        image: text(&b, b"image")?,
        runtime: match &runtime {
            Some(r) => text(r, b"name")?,
            None => String::new(),
        },
        runtime_options: match &runtime {
            Some(r) => r.bytes(b"options")?.unwrap_or_default().to_vec(),
            None => Vec::new(),
        },
        spec: b.bytes(b"spec")?.unwrap_or_default().to_vec(),
        snapshotter: text(&b, b"snapshotter")?,
        snapshot_key: text(&b, b"snapshotKey")?,
        labels: labels(b.bucket(b"labels")?)?,
        extensions: keys(b.bucket(b"extensions")?)?,
        id,
    })
}

fn lease(id: String, b: Bucket<'_>) -> Result<Lease> {
    let mut snapshots = Vec::new();
    if let Some(s) = b.bucket(b"snapshots")? {
        for (snapshotter, v) in s.entries()? {
            if let Value::Bucket(keys_bucket) = v {
                for key in keys(Some(keys_bucket))? {
                    snapshots.push((string(snapshotter)?, key));
                }
            }
        }
    }
    Ok(Lease {
        labels: labels(b.bucket(b"labels")?)?,
        content: keys(b.bucket(b"content")?)?,
        ingests: keys(b.bucket(b"ingests")?)?,
        snapshots,
        id,
    })
}

fn blob(digest: String, b: Bucket<'_>) -> Result<Blob> {
    Ok(Blob {
        size: b.bytes(b"size")?.map_or(Ok(0), varint)?,
        labels: labels(b.bucket(b"labels")?)?,
        digest,
    })
}

fn snapshot(snapshotter: &str, key: String, b: Bucket<'_>) -> Result<Snapshot> {
    Ok(Snapshot {
        snapshotter: snapshotter.to_string(),
        backend_key: text(&b, b"name")?,
        parent: text(&b, b"parent")?,
        labels: labels(b.bucket(b"labels")?)?,
        key,
    })
}
