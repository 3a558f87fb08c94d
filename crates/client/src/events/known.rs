//! containerd's own event types, decoded from their `Any` envelope body.

/// containerd's event types; the image events live in the images service's
/// package.
mod ev {
    pub use crated_api::events::*;
    pub use crated_api::services::v1::{ImageCreate, ImageDelete, ImageUpdate};
}
use crated_api::prost::{Message, Name};
use prost_types::Any;

use crate::error::{Error, Result};

macro_rules! known_events {
    ($($name:ident),* $(,)?) => {
        /// An event body of one of containerd's event types
        /// (`containerd.events.*`).
        #[derive(Debug, Clone, PartialEq)]
        #[allow(missing_docs)]
        pub enum KnownEvent {
            $($name(ev::$name),)*
        }

        impl KnownEvent {
            /// Decodes `any` when its type URL names a known event type;
            /// `Ok(None)` for any other type.
            pub fn decode(any: &Any) -> Result<Option<KnownEvent>> {
                let name = type_name(&any.type_url);
                $(
                    if name == ev::$name::full_name() {
                        let event = ev::$name::decode(any.value.as_slice()).map_err(|err| {
                            Error::protocol(format!("decoding event {}: {err}", any.type_url))
                        })?;
                        return Ok(Some(KnownEvent::$name(event)));
                    }
                )*
                Ok(None)
            }

            /// The full protobuf name of the event type.
            pub fn type_name(&self) -> String {
                match self {
                    $(KnownEvent::$name(_) => ev::$name::full_name(),)*
                }
            }
        }
    };
}

known_events!(
    ContainerCreate,
    ContainerUpdate,
    ContainerDelete,
    ContentCreate,
    ContentDelete,
    ImageCreate,
    ImageUpdate,
    ImageDelete,
    NamespaceCreate,
    NamespaceUpdate,
    NamespaceDelete,
    SnapshotPrepare,
    SnapshotCommit,
    SnapshotRemove,
    TaskCreate,
    TaskStart,
    TaskDelete,
    TaskIo,
    TaskExit,
    TaskOom,
    TaskExecAdded,
    TaskExecStarted,
    TaskPaused,
    TaskResumed,
    TaskCheckpointed,
);

/// The type name in a type URL: what follows the last `/`
/// (`types.googleapis.com/a.B` and `/a.B` both give `a.B`).
fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::to_any;

    #[test]
    fn decodes_containerd_type_urls() {
        let event = ev::NamespaceCreate {
            name: "foo".into(),
            labels: Default::default(),
        };
        let mut any = to_any(&event);
        assert_eq!(any.type_url, "containerd.events.NamespaceCreate");
        let decoded = KnownEvent::decode(&any).ok().flatten();
        assert_eq!(decoded, Some(KnownEvent::NamespaceCreate(event.clone())));

        any.type_url = "/containerd.events.NamespaceCreate".into();
        assert!(matches!(KnownEvent::decode(&any), Ok(Some(_))));

        any.type_url = "example.Other".into();
        assert!(matches!(KnownEvent::decode(&any), Ok(None)));
    }

    #[test]
    fn decodes_image_events_from_the_images_package() {
        let event = ev::ImageCreate {
            name: "docker.io/library/x:1".into(),
            labels: Default::default(),
        };
        let any = to_any(&event);
        assert_eq!(any.type_url, "containerd.services.images.v1.ImageCreate");
        let decoded = KnownEvent::decode(&any).ok().flatten();
        assert_eq!(decoded, Some(KnownEvent::ImageCreate(event)));
    }
}
