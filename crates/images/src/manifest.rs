//! OCI and Docker schema 2 documents (the fields crated uses).

use std::collections::HashMap;

use crated_core::image::Descriptor;
use crated_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// A descriptor as it appears in JSON documents.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonDescriptor {
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: i64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Platform (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// URLs (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl JsonDescriptor {
    /// As a core descriptor.
    pub fn to_core(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: self.annotations.clone(),
        }
    }

    /// From a core descriptor.
    pub fn from_core(d: &Descriptor) -> JsonDescriptor {
        JsonDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone(),
            platform: None,
            urls: Vec::new(),
        }
    }
}

/// An image index or manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: i64,
    /// Media type, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The manifests.
    pub manifests: Vec<JsonDescriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// A single-platform image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: i64,
    /// Media type, when given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// The image config.
    pub config: JsonDescriptor,
    /// The layers, base first.
    pub layers: Vec<JsonDescriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// The parts of an image config crated reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// Variant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// The runtime defaults (entrypoint, cmd, env, user, workdir, …).
    #[serde(default)]
    pub config: RuntimeConfig,
    /// The uncompressed layer digests.
    pub rootfs: RootFs,
}

/// `config` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    /// User to run as.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Environment, `K=V`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<HashMap<String, String>>,
    /// Stop signal.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Volumes: paths in the container, each mapped to an empty object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<HashMap<String, serde_json::Value>>,
}

impl RuntimeConfig {
    /// The paths of the volumes the image declares, sorted.
    pub fn volume_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .volumes
            .iter()
            .flat_map(|v| v.keys().cloned())
            .collect();
        paths.sort();
        paths
    }
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Uncompressed digests of the layers, base first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

fn parse<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            format_args!("invalid {what}"),
            e,
        )
    })
}

impl Index {
    /// Parses an index or manifest list.
    pub fn parse(bytes: &[u8]) -> Result<Index> {
        parse("image index", bytes)
    }
}

impl Manifest {
    /// Parses a manifest and checks it has a config.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest = parse("image manifest", bytes)?;
        if m.config.digest.is_empty() {
            return Err(Error::invalid_argument("invalid image manifest: no config"));
        }
        Ok(m)
    }
}

impl ImageConfig {
    /// Parses an image config.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        parse("image config", bytes)
    }

    /// The platform the config describes.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
            os_version: String::new(),
        }
        .normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_and_oci_documents() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:aa","size":1},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:bb","size":2}]}"#;
        let m = Manifest::parse(m).unwrap();
        assert_eq!(m.layers.len(), 1);
        let i = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":3,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}"#;
        let i = Index::parse(i).unwrap();
        assert_eq!(i.manifests[0].platform.as_ref().unwrap().variant, "v7");
        let c = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":["sha256:dd"]}}"#;
        let c = ImageConfig::parse(c).unwrap();
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert!(c.config.volume_paths().is_empty());
        assert!(Manifest::parse(b"{}").is_err());
    }

    #[test]
    fn image_config_volumes_are_listed_sorted() {
        let c = br#"{"config":{"Volumes":{"/var/lib/db":{},"/data":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::parse(c).unwrap();
        assert_eq!(c.config.volume_paths(), ["/data", "/var/lib/db"]);
    }
}
