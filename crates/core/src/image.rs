//! Images and descriptors.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: i64,
    /// Annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// A named image: a name pointing at a root descriptor (index or manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image name, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// The root descriptor.
    pub target: Descriptor,
    /// When the image was created.
    pub created_at: DateTime<Utc>,
    /// When it was last updated.
    pub updated_at: DateTime<Utc>,
}
