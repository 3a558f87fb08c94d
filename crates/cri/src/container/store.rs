//! The containers of every pod as the plugin keeps them in memory: one
//! entry per container (metadata, status, log), found by id or unique id
//! prefix, names reserved so two containers never share one, and a
//! broadcast of CRI container events for GetContainerEvents.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crated_api::cri::{self, ContainerEventResponse, ContainerEventType};
use tokio::sync::broadcast;

use super::logger::ContainerLog;
use super::record::{Metadata, Status, config_from_json};
use crate::error::{Error, Result};
use crate::store::ids::IdIndex;
use crate::store::names::NameIndex;

/// One container.
#[derive(Debug)]
pub struct Entry {
    /// What it was created as.
    pub meta: Metadata,
    /// Where it is in its life.
    pub status: Mutex<Status>,
    /// Its status file.
    pub status_path: PathBuf,
    /// Its log, while output is being copied.
    pub log: Mutex<Option<ContainerLog>>,
    /// Becomes `true` once the init process's exit is recorded.
    pub exited: tokio::sync::watch::Sender<bool>,
    /// The init process's stdin FIFO, when it was created with stdin
    /// (Attach writes to it).
    pub stdin_fifo: Mutex<Option<PathBuf>>,
}

impl Entry {
    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Changes the status with `f` and writes it to the status file.
    pub fn update(&self, f: impl FnOnce(&mut Status)) -> Result<Status> {
        let mut status = self
            .status
            .lock()
            .map_err(|_| Error::InvalidArgument("container status lock poisoned".into()))?;
        let mut next = status.clone();
        f(&mut next);
        next.save(&self.status_path)?;
        *status = next.clone();
        Ok(next)
    }

    /// The CRI's view of it in ListContainers.
    pub fn to_cri(&self) -> cri::Container {
        let config = config_from_json(&self.meta.config);
        let status = self.status();
        cri::Container {
            id: self.meta.id.clone(),
            pod_sandbox_id: self.meta.sandbox_id.clone(),
            metadata: config.metadata,
            image: config.image,
            image_ref: self.meta.image_ref.clone(),
            state: status.state() as i32,
            created_at: status.created_at,
            labels: config.labels,
            annotations: config.annotations,
            ..cri::Container::default()
        }
    }
}

/// Every container of the plugin.
#[derive(Debug)]
pub struct ContainerStore {
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    ids: IdIndex,
    names: NameIndex,
    events: broadcast::Sender<ContainerEventResponse>,
}

impl Default for ContainerStore {
    fn default() -> Self {
        ContainerStore {
            entries: RwLock::default(),
            ids: IdIndex::default(),
            names: NameIndex::default(),
            events: broadcast::channel(1024).0,
        }
    }
}

fn poisoned() -> Error {
    Error::InvalidArgument("container store lock poisoned".into())
}

impl ContainerStore {
    /// Reserves `name` for container `id` (AlreadyExists when taken).
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        self.names.reserve(name, id).map_err(core_err)
    }

    /// Gives a reserved name back.
    pub fn release_name(&self, name: &str) {
        self.names.release_by_name(name);
    }

    /// Adds `entry` (its name must be reserved).
    pub fn add(&self, entry: Entry) -> Result<Arc<Entry>> {
        let entry = Arc::new(entry);
        let id = entry.meta.id.clone();
        self.entries
            .write()
            .map_err(|_| poisoned())?
            .insert(id.clone(), entry.clone());
        self.ids.add(&id);
        Ok(entry)
    }

    /// The container `id_or_prefix` names.
    pub fn get(&self, id_or_prefix: &str) -> Result<Arc<Entry>> {
        let id = self.ids.get(id_or_prefix).map_err(|e| {
            if e.kind() == crated_core::ErrorKind::NotFound {
                Error::NotFound(format!(
                    "container {id_or_prefix:?} not found: list containers to find its id"
                ))
            } else {
                core_err(e)
            }
        })?;
        self.entries
            .read()
            .map_err(|_| poisoned())?
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("container {id:?} not found")))
    }

    /// Removes container `id` and releases its name.
    pub fn remove(&self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.entries.write().ok()?.remove(id)?;
        self.ids.remove(id);
        self.names.release_by_key(id);
        Some(entry)
    }

    /// Every container.
    pub fn list(&self) -> Vec<Arc<Entry>> {
        self.entries
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The containers of sandbox `sandbox_id`.
    pub fn in_sandbox(&self, sandbox_id: &str) -> Vec<Arc<Entry>> {
        self.list()
            .into_iter()
            .filter(|e| e.meta.sandbox_id == sandbox_id)
            .collect()
    }

    /// Sends a CRI container event to every GetContainerEvents stream.
    pub fn publish(&self, entry: &Entry, kind: ContainerEventType) {
        let status = entry.status();
        let at = match kind {
            ContainerEventType::ContainerCreatedEvent => status.created_at,
            ContainerEventType::ContainerStartedEvent => status.started_at,
            ContainerEventType::ContainerStoppedEvent => status.finished_at,
            ContainerEventType::ContainerDeletedEvent => now_nanos(),
        };
        // No receiver is not an error: nobody is listening.
        let _ = self.events.send(ContainerEventResponse {
            container_id: entry.meta.id.clone(),
            container_event_type: kind as i32,
            created_at: at,
            ..ContainerEventResponse::default()
        });
    }

    /// A new receiver of container events.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEventResponse> {
        self.events.subscribe()
    }
}

fn core_err(e: crated_core::Error) -> Error {
    match e.kind() {
        crated_core::ErrorKind::NotFound => Error::NotFound(e.to_string()),
        crated_core::ErrorKind::AlreadyExists => Error::AlreadyExists(e.to_string()),
        _ => Error::InvalidArgument(e.to_string()),
    }
}

/// Now in Unix nanoseconds, as the CRI's timestamps are.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &std::path::Path, id: &str, name: &str, sandbox: &str) -> Entry {
        Entry {
            meta: Metadata {
                id: id.into(),
                name: name.into(),
                sandbox_id: sandbox.into(),
                config: super::super::record::config_json(&cri::ContainerConfig {
                    metadata: Some(cri::ContainerMetadata {
                        name: "app".into(),
                        attempt: 0,
                    }),
                    ..cri::ContainerConfig::default()
                }),
                ..Metadata::default()
            },
            status: Mutex::new(Status {
                created_at: 5,
                ..Status::default()
            }),
            status_path: dir.join(id).join("status"),
            log: Mutex::new(None),
            exited: tokio::sync::watch::channel(false).0,
            stdin_fifo: Mutex::new(None),
        }
    }

    #[tokio::test]
    async fn names_prefixes_events_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::default();
        store.reserve_name("app_pod", "abc123").unwrap();
        assert!(
            store.reserve_name("app_pod", "other").is_err(),
            "a name is held once"
        );
        let added = store
            .add(entry(dir.path(), "abc123", "app_pod", "sb1"))
            .unwrap();
        store.add(entry(dir.path(), "abd999", "x", "sb2")).unwrap();
        assert_eq!(store.get("abc").unwrap().meta.id, "abc123");
        assert!(
            matches!(store.get("ab"), Err(Error::InvalidArgument(_))),
            "ambiguous prefix"
        );
        assert!(matches!(store.get("zzz"), Err(Error::NotFound(_))));
        assert_eq!(store.in_sandbox("sb1").len(), 1);
        let cri = added.to_cri();
        assert_eq!(
            (
                cri.state,
                cri.created_at,
                cri.metadata.unwrap().name.as_str()
            ),
            (cri::ContainerState::ContainerCreated as i32, 5, "app")
        );

        let mut events = store.subscribe();
        added.update(|s| s.started_at = 9).unwrap();
        assert_eq!(
            Status::load(&added.status_path).unwrap().started_at,
            9,
            "status persisted"
        );
        store.publish(&added, ContainerEventType::ContainerStartedEvent);
        let ev = events.recv().await.unwrap();
        assert_eq!(
            (
                ev.container_id.as_str(),
                ev.container_event_type,
                ev.created_at
            ),
            (
                "abc123",
                ContainerEventType::ContainerStartedEvent as i32,
                9
            )
        );

        store.remove("abc123").unwrap();
        assert!(store.get("abc123").is_err());
        store.reserve_name("app_pod", "new").unwrap();
    }
}
