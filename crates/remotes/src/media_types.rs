//! The manifest media types a registry serves, and how to tell them apart.

/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker manifest list (schema 2).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker schema 1 manifest (signed); deprecated and not supported.
pub const DOCKER_SCHEMA1_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// An OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// A Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// An OCI gzip-compressed layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A Docker gzip-compressed layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` header sent when resolving: every manifest type crated reads,
/// then anything, as containerd sends it.
pub const RESOLVE_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, */*";

/// Whether `media_type` is a manifest or an index, i.e. content the registry
/// serves from `/manifests/` rather than `/blobs/`.
pub fn is_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_INDEX | OCI_MANIFEST | DOCKER_MANIFEST_LIST | DOCKER_MANIFEST | DOCKER_SCHEMA1_MANIFEST
    )
}

/// Whether `media_type` is an index or manifest list.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
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
