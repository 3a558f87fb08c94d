//! Containers as metadata (the running process is a task).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A protobuf `Any` carried through unchanged: a type url and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AnyValue {
    /// The type url, e.g. `types.containerd.io/opencontainers/runtime-spec/1/Spec`.
    pub type_url: String,
    /// The encoded value.
    #[serde(with = "crate::serde_bytes_b64")]
    pub value: Vec<u8>,
}

/// The runtime a container runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Runtime {
    /// The runtime name, e.g. `io.containerd.runc.v2`.
    pub name: String,
    /// Runtime-specific options.
    #[serde(default)]
    pub options: Option<AnyValue>,
}

/// A container's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// Labels.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// The image it was created from, if any.
    #[serde(default)]
    pub image: String,
    /// Its runtime.
    pub runtime: Runtime,
    /// The OCI runtime spec.
    #[serde(default)]
    pub spec: Option<AnyValue>,
    /// The snapshotter holding its root filesystem.
    #[serde(default)]
    pub snapshotter: String,
    /// The key of its root filesystem snapshot.
    #[serde(default)]
    pub snapshot_key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last updated.
    pub updated_at: DateTime<Utc>,
    /// Client-defined extensions.
    #[serde(default)]
    pub extensions: HashMap<String, AnyValue>,
    /// The sandbox it belongs to, if any.
    #[serde(default)]
    pub sandbox: String,
}
