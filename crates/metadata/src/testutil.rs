//! Test doubles shared by this crate's unit tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use crated_core::Error;
use crated_core::Result;
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Kind, Snapshotter, Usage};

/// An in-memory snapshotter that records backend keys and parents.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) snaps: Mutex<HashMap<String, (Kind, String)>>,
    /// How many times `cleanup()` ran.
    pub(crate) cleanups: AtomicUsize,
}

impl Fake {
    /// How many times `cleanup()` ran.
    pub(crate) fn cleanups(&self) -> usize {
        self.cleanups.load(Ordering::SeqCst)
    }
}

impl Fake {
    fn add(&self, key: &str, parent: &str, kind: Kind) -> Result<Vec<Mount>> {
        let mut s = self.snaps.lock().unwrap();
        if s.contains_key(key) {
            return Err(Error::already_exists(key));
        }
        if !parent.is_empty() && s.get(parent).map(|p| p.0) != Some(Kind::Committed) {
            return Err(Error::failed_precondition("parent not committed"));
        }
        s.insert(key.into(), (kind, parent.into()));
        Ok(vec![Mount {
            mount_type: "bind".into(),
            source: key.into(),
            target: String::new(),
            options: vec![],
        }])
    }
}

impl Snapshotter for Fake {
    fn stat(&self, key: &str) -> Result<Info> {
        let s = self.snaps.lock().unwrap();
        let (kind, parent) = s.get(key).cloned().ok_or_else(|| Error::not_found(key))?;
        Ok(Info {
            kind,
            name: key.into(),
            parent,
            labels: HashMap::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        })
    }
    fn update(&self, info: Info, _: &[String]) -> Result<Info> {
        Ok(info)
    }
    fn usage(&self, _: &str) -> Result<Usage> {
        Ok(Usage { size: 1, inodes: 1 })
    }
    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.stat(key)?;
        Ok(vec![])
    }
    fn prepare(&self, key: &str, parent: &str, _: HashMap<String, String>) -> Result<Vec<Mount>> {
        self.add(key, parent, Kind::Active)
    }
    fn view(&self, key: &str, parent: &str, _: HashMap<String, String>) -> Result<Vec<Mount>> {
        self.add(key, parent, Kind::View)
    }
    fn commit(&self, name: &str, key: &str, _: HashMap<String, String>) -> Result<()> {
        let mut s = self.snaps.lock().unwrap();
        let (_, parent) = s.remove(key).ok_or_else(|| Error::not_found(key))?;
        s.insert(name.into(), (Kind::Committed, parent));
        Ok(())
    }
    fn remove(&self, key: &str) -> Result<()> {
        self.snaps
            .lock()
            .unwrap()
            .remove(key)
            .map(|_| ())
            .ok_or_else(|| Error::not_found(key))
    }
    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        let snaps: Vec<(String, (Kind, String))> = self
            .snaps
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, (kind, parent)) in snaps {
            f(&Info {
                kind,
                name,
                parent,
                labels: HashMap::new(),
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            })?;
        }
        Ok(())
    }
    fn cleanup(&self) -> Result<()> {
        self.cleanups.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
