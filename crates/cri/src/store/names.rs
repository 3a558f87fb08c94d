//! Pod and container names: Kubernetes identifies a pod by its metadata
//! and a container by its pod, name and attempt; the runtime turns each
//! into a unique name and refuses a second sandbox or container under the
//! same name while the first exists.

use std::collections::HashMap;
use std::sync::Mutex;

use crated_api::cri::{ContainerMetadata, PodSandboxMetadata};
use crated_core::Error;

/// containerd's sandbox name: `<name>_<namespace>_<uid>_<attempt>`.
pub fn sandbox_name(meta: &PodSandboxMetadata) -> String {
    format!(
        "{}_{}_{}_{}",
        meta.name, meta.namespace, meta.uid, meta.attempt
    )
}

/// containerd's container name:
/// `<container>_<pod>_<namespace>_<uid>_<attempt>`.
pub fn container_name(container: &ContainerMetadata, pod: &PodSandboxMetadata) -> String {
    format!(
        "{}_{}_{}_{}_{}",
        container.name, pod.name, pod.namespace, pod.uid, container.attempt
    )
}

/// Names reserved for keys (sandbox or container ids), both ways.
#[derive(Debug, Default)]
pub struct NameIndex {
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    name_to_key: HashMap<String, String>,
    key_to_name: HashMap<String, String>,
}

impl NameIndex {
    /// Reserves `name` for `key`. Reserving it again for the same key is a
    /// no-op; for another key it is `AlreadyExists`, naming the holder.
    pub fn reserve(&self, name: &str, key: &str) -> crated_core::Result<()> {
        if name.is_empty() || key.is_empty() {
            return Err(Error::invalid_argument(format!(
                "invalid name {name:?} or key {key:?}"
            )));
        }
        let mut maps = self.lock()?;
        if let Some(holder) = maps.name_to_key.get(name) {
            if holder == key {
                return Ok(());
            }
            return Err(Error::already_exists(format!(
                "name {name:?} is reserved for {holder:?}"
            )));
        }
        maps.name_to_key.insert(name.to_string(), key.to_string());
        maps.key_to_name.insert(key.to_string(), name.to_string());
        Ok(())
    }

    /// Releases whatever name `key` holds.
    pub fn release_by_key(&self, key: &str) {
        if let Ok(mut maps) = self.lock()
            && let Some(name) = maps.key_to_name.remove(key)
        {
            maps.name_to_key.remove(&name);
        }
    }

    /// Releases `name`.
    pub fn release_by_name(&self, name: &str) {
        if let Ok(mut maps) = self.lock()
            && let Some(key) = maps.name_to_key.remove(name)
        {
            maps.key_to_name.remove(&key);
        }
    }

    /// The key holding `name`.
    pub fn key_of(&self, name: &str) -> Option<String> {
        self.lock().ok()?.name_to_key.get(name).cloned()
    }

    fn lock(&self) -> crated_core::Result<std::sync::MutexGuard<'_, Maps>> {
        self.inner
            .lock()
            .map_err(|_| Error::internal("CRI name index lock poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodSandboxMetadata {
        PodSandboxMetadata {
            name: "web".into(),
            uid: "u-1".into(),
            namespace: "default".into(),
            attempt: 2,
        }
    }

    #[test]
    fn names_are_containerds() {
        assert_eq!(sandbox_name(&pod()), "web_default_u-1_2");
        let c = ContainerMetadata {
            name: "nginx".into(),
            attempt: 0,
        };
        assert_eq!(container_name(&c, &pod()), "nginx_web_default_u-1_0");
    }

    #[test]
    fn a_name_is_held_by_one_key_until_released() {
        let index = NameIndex::default();
        index.reserve("web_default_u-1_2", "sb1").unwrap();
        index.reserve("web_default_u-1_2", "sb1").unwrap();
        let err = index.reserve("web_default_u-1_2", "sb2").unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("\"sb1\""), "{err}");
        assert_eq!(index.key_of("web_default_u-1_2").as_deref(), Some("sb1"));
        index.release_by_key("sb1");
        index.reserve("web_default_u-1_2", "sb2").unwrap();
        index.release_by_name("web_default_u-1_2");
        assert_eq!(index.key_of("web_default_u-1_2"), None);
        assert!(index.reserve("", "k").is_err());
    }
}
