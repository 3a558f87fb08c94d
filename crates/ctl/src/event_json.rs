//! containerd's event bodies as JSON, shaped like the JSON `ctr events`
//! prints (Go's `encoding/json` of the event structs): protobuf field
//! names, zero values left out.

use std::collections::HashMap;

use chrono::SecondsFormat;
/// containerd's event types, the image events included.
mod ev {
    pub use crated_client::api::events::*;
    pub use crated_client::api::services::v1::{ImageCreate, ImageDelete, ImageUpdate};
}
use crated_client::api::prost_types::{Any, Timestamp};
use crated_client::api::types::Mount;
use crated_client::events::KnownEvent;

/// A value that has a JSON form; `None` when Go's `omitempty` would leave
/// it out.
trait ToJson {
    fn to_json(&self) -> Option<String>;
}

fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

impl ToJson for String {
    fn to_json(&self) -> Option<String> {
        (!self.is_empty()).then(|| quote(self))
    }
}

impl ToJson for u32 {
    fn to_json(&self) -> Option<String> {
        (*self != 0).then(|| self.to_string())
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Option<String> {
        (*self != 0).then(|| self.to_string())
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Option<String> {
        self.then(|| "true".to_string())
    }
}

/// Maps print with sorted keys, as Go's `encoding/json` prints them.
impl ToJson for HashMap<String, String> {
    fn to_json(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut pairs: Vec<(&String, &String)> = self.iter().collect();
        pairs.sort();
        let fields: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
            .collect();
        Some(format!("{{{}}}", fields.join(",")))
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let items: Vec<String> = self
            .iter()
            .map(|v| v.to_json().unwrap_or_else(|| "null".to_string()))
            .collect();
        Some(format!("[{}]", items.join(",")))
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Option<String> {
        self.as_ref().and_then(ToJson::to_json)
    }
}

impl ToJson for Timestamp {
    fn to_json(&self) -> Option<String> {
        let nanos = u32::try_from(self.nanos).ok()?;
        let time = chrono::DateTime::from_timestamp(self.seconds, nanos)?;
        Some(quote(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
    }
}

impl ToJson for Any {
    fn to_json(&self) -> Option<String> {
        Some(format!("{{\"type_url\":{}}}", quote(&self.type_url)))
    }
}

/// Implements [`ToJson`] for protobuf messages field by field, in
/// declaration order.
macro_rules! messages {
    ($($ty:path { $($field:ident),* $(,)? })*) => {
        $(
            impl ToJson for $ty {
                fn to_json(&self) -> Option<String> {
                    let mut fields: Vec<String> = Vec::new();
                    $(
                        if let Some(value) = self.$field.to_json() {
                            let name = stringify!($field);
                            let name = name.strip_prefix("r#").unwrap_or(name);
                            fields.push(format!("\"{name}\":{value}"));
                        }
                    )*
                    Some(format!("{{{}}}", fields.join(",")))
                }
            }
        )*
    };
}

messages! {
    Mount { r#type, source, target, options }
    ev::container_create::Runtime { name, options }
    ev::ContainerCreate { id, image, runtime }
    ev::ContainerUpdate { id, image, labels, snapshot_key }
    ev::ContainerDelete { id }
    ev::ContentCreate { digest, size }
    ev::ContentDelete { digest }
    ev::ImageCreate { name, labels }
    ev::ImageUpdate { name, labels }
    ev::ImageDelete { name }
    ev::NamespaceCreate { name, labels }
    ev::NamespaceUpdate { name, labels }
    ev::NamespaceDelete { name }
    ev::SnapshotPrepare { key, parent, snapshotter }
    ev::SnapshotCommit { key, name, snapshotter }
    ev::SnapshotRemove { key, snapshotter }
    ev::TaskCreate { container_id, bundle, rootfs, io, checkpoint, pid }
    ev::TaskStart { container_id, pid }
    ev::TaskDelete { container_id, pid, exit_status, exited_at, id }
    ev::TaskIo { stdin, stdout, stderr, terminal }
    ev::TaskExit { container_id, id, pid, exit_status, exited_at }
    ev::TaskOom { container_id }
    ev::TaskExecAdded { container_id, exec_id }
    ev::TaskExecStarted { container_id, exec_id, pid }
    ev::TaskPaused { container_id }
    ev::TaskResumed { container_id }
    ev::TaskCheckpointed { container_id, checkpoint }
}

/// The JSON text of a decoded event, as one line.
pub fn event_json(event: &KnownEvent) -> String {
    macro_rules! dispatch {
        ($($name:ident),*) => {
            match event {
                $(KnownEvent::$name(e) => e.to_json(),)*
            }
        };
    }
    dispatch!(
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
        TaskCheckpointed
    )
    .unwrap_or_else(|| "null".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_create_like_ctr() {
        let event = KnownEvent::NamespaceCreate(ev::NamespaceCreate {
            name: "foo".into(),
            labels: [("c", "true"), ("a", "b")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        assert_eq!(
            event_json(&event),
            r#"{"name":"foo","labels":{"a":"b","c":"true"}}"#
        );
    }

    #[test]
    fn zero_values_are_left_out() {
        let event = KnownEvent::TaskExit(ev::TaskExit {
            container_id: "c1".into(),
            id: "c1".into(),
            pid: 42,
            exit_status: 0,
            exited_at: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
        });
        assert_eq!(
            event_json(&event),
            r#"{"container_id":"c1","id":"c1","pid":42,"exited_at":"2023-11-14T22:13:20.000000005Z"}"#
        );
    }

    #[test]
    fn mounts_use_go_field_names() {
        let event = KnownEvent::TaskCreate(ev::TaskCreate {
            container_id: "c".into(),
            rootfs: vec![Mount {
                r#type: "overlay".into(),
                source: "overlay".into(),
                target: String::new(),
                options: vec!["ro".into()],
            }],
            ..Default::default()
        });
        assert_eq!(
            event_json(&event),
            r#"{"container_id":"c","rootfs":[{"type":"overlay","source":"overlay","options":["ro"]}]}"#
        );
    }
}
