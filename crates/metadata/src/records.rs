//! The values stored in the metadata tables.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A namespace's reference to a blob in the content store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// The blob's size.
    pub size: i64,
    /// Labels set in this namespace.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// When this namespace first referenced the blob.
    pub created_at: DateTime<Utc>,
    /// When the reference last changed.
    pub updated_at: DateTime<Utc>,
}

/// A namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NamespaceRecord {
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

/// A lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    #[serde(default)]
    pub labels: HashMap<String, String>,
    pub created_at: DateTime<Utc>,
}

/// An in-progress write owned by a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IngestRecord {
    /// The ref in the backing content store.
    pub backend_ref: String,
    /// The expected digest given when the write was opened.
    #[serde(default)]
    pub expected: String,
    /// The lease the write was opened under.
    #[serde(default)]
    pub lease: Option<String>,
}
