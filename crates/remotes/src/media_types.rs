//! The manifest media types a registry serves, and how to tell them apart.

pub use crated_core::media::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, is_index,
};

/// The `Accept` header sent when resolving: every manifest type crated reads,
/// then anything, as containerd sends it.
pub fn resolve_accept() -> String {
    [
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        OCI_INDEX,
        "*/*",
    ]
    .join(", ")
}

/// Whether `media_type` is a manifest or an index, i.e. content the registry
/// serves from `/manifests/` rather than `/blobs/`.
pub fn is_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_INDEX | OCI_MANIFEST | DOCKER_MANIFEST_LIST | DOCKER_MANIFEST | DOCKER_SCHEMA1_MANIFEST
    )
}

/// Whether crated can read a manifest of `media_type` (schema 1 excluded).
pub fn is_supported_manifest(media_type: &str) -> bool {
    is_manifest(media_type) && media_type != DOCKER_SCHEMA1_MANIFEST
}

/// The media type named by a `Content-Type` header: parameters dropped, and
/// `text/plain` read as schema 1 the way containerd reads it.
pub(crate) fn from_content_type(content_type: &str) -> String {
    let base = content_type.split(';').next().unwrap_or_default().trim();
    if base == "text/plain" {
        return DOCKER_SCHEMA1_MANIFEST.to_string();
    }
    base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert!(is_manifest(OCI_INDEX) && is_index(OCI_INDEX));
        assert!(is_manifest(DOCKER_MANIFEST) && !is_index(DOCKER_MANIFEST));
        assert!(!is_manifest(OCI_LAYER_GZIP));
        assert!(!is_supported_manifest(DOCKER_SCHEMA1_MANIFEST));
        assert_eq!(
            from_content_type("application/vnd.oci.image.index.v1+json; charset=utf-8"),
            OCI_INDEX
        );
        assert_eq!(from_content_type("text/plain"), DOCKER_SCHEMA1_MANIFEST);
    }
}
