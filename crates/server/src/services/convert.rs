//! Conversions between containerd's wire types and crated's core types.

use crated_api::prost_types::Any;
use crated_api::services::v1::container::Runtime as ApiRuntime;
use crated_api::services::v1::{Container as ApiContainer, Image as ApiImage};
use crated_api::types::Descriptor as ApiDescriptor;
use crated_core::container::{AnyValue, Container, Runtime};
use crated_core::image::{Descriptor, Image};

use super::{from_timestamp, timestamp};

/// Wire `Any` to core.
pub fn any_from_api(a: Any) -> AnyValue {
    AnyValue {
        type_url: a.type_url,
        value: a.value,
    }
}

/// Core `Any` to wire.
pub fn any_to_api(a: AnyValue) -> Any {
    Any {
        type_url: a.type_url,
        value: a.value,
    }
}

/// Wire descriptor to core.
pub fn descriptor_from_api(d: ApiDescriptor) -> Descriptor {
    Descriptor {
        media_type: d.media_type,
        digest: d.digest,
        size: d.size,
        annotations: d.annotations,
    }
}

/// Core descriptor to wire.
pub fn descriptor_to_api(d: Descriptor) -> ApiDescriptor {
    ApiDescriptor {
        media_type: d.media_type,
        digest: d.digest,
        size: d.size,
        annotations: d.annotations,
    }
}

/// Wire image to core.
pub fn image_from_api(i: ApiImage) -> Image {
    Image {
        name: i.name,
        labels: i.labels,
        target: descriptor_from_api(i.target.unwrap_or_default()),
        created_at: from_timestamp(i.created_at.as_ref()),
        updated_at: from_timestamp(i.updated_at.as_ref()),
    }
}

/// Core image to wire.
pub fn image_to_api(i: Image) -> ApiImage {
    ApiImage {
        name: i.name,
        labels: i.labels,
        target: Some(descriptor_to_api(i.target)),
        created_at: Some(timestamp(i.created_at)),
        updated_at: Some(timestamp(i.updated_at)),
    }
}

/// Wire container to core.
pub fn container_from_api(c: ApiContainer) -> Container {
    let runtime = c.runtime.unwrap_or_default();
    Container {
        id: c.id,
        labels: c.labels,
        image: c.image,
        runtime: Runtime {
            name: runtime.name,
            options: runtime.options.map(any_from_api),
        },
        spec: c.spec.map(any_from_api),
        snapshotter: c.snapshotter,
        snapshot_key: c.snapshot_key,
        created_at: from_timestamp(c.created_at.as_ref()),
        updated_at: from_timestamp(c.updated_at.as_ref()),
        extensions: c
            .extensions
            .into_iter()
            .map(|(k, v)| (k, any_from_api(v)))
            .collect(),
        sandbox: c.sandbox,
    }
}

/// Core container to wire.
pub fn container_to_api(c: Container) -> ApiContainer {
    ApiContainer {
        id: c.id,
        labels: c.labels,
        image: c.image,
        runtime: Some(ApiRuntime {
            name: c.runtime.name,
            options: c.runtime.options.map(any_to_api),
        }),
        spec: c.spec.map(any_to_api),
        snapshotter: c.snapshotter,
        snapshot_key: c.snapshot_key,
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        extensions: c
            .extensions
            .into_iter()
            .map(|(k, v)| (k, any_to_api(v)))
            .collect(),
        sandbox: c.sandbox,
    }
}
