//! The stored form of one snapshot.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crated_core::snapshot::{Info, Kind, Usage};
use crated_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

use crate::errors::StorageError;

/// What the metastore keeps per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The snapshot's id: its directory name on disk.
    pub id: u64,
    /// `active`, `view` or `committed`.
    pub kind: String,
    /// The parent's key, empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
    /// Labels (never with empty values).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub labels: HashMap<String, String>,
    /// When it was created (for committed ones: when committed).
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// Bytes used, recorded at commit.
    #[serde(default)]
    pub size: i64,
    /// Inodes used, recorded at commit.
    #[serde(default)]
    pub inodes: i64,
}

impl Record {
    /// The record's kind; `DataLoss` for a kind this code never writes.
    pub fn kind(&self) -> Result<Kind> {
        match self.kind.as_str() {
            "active" => Ok(Kind::Active),
            "view" => Ok(Kind::View),
            "committed" => Ok(Kind::Committed),
            other => Err(Error::new(
                ErrorKind::DataLoss,
                format!("snapshot {} has unknown kind {other:?}", self.id),
            )),
        }
    }

    /// The record as containerd's snapshot info under `name`.
    pub fn info(&self, name: &str) -> Result<Info> {
        Ok(Info {
            kind: self.kind()?,
            name: name.to_owned(),
            parent: self.parent.clone(),
            labels: self.labels.clone(),
            created_at: self.created,
            updated_at: self.updated,
        })
    }

    /// The usage recorded at commit.
    pub fn usage(&self) -> Usage {
        Usage {
            size: self.size,
            inodes: self.inodes,
        }
    }

    /// Encodes the record for the database.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|source| {
            StorageError::Encode {
                id: self.id,
                source,
            }
            .into()
        })
    }

    /// Decodes the record stored under `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| {
            StorageError::Decode {
                key: key.to_string(),
                source,
            }
            .into()
        })
    }
}

/// Labels with empty values dropped: containerd stores none (an empty
/// value removes the label).
pub(crate) fn clean_labels(mut labels: HashMap<String, String>) -> HashMap<String, String> {
    labels.retain(|_, v| !v.is_empty());
    labels
}
