//! One namespace's view of one snapshotter as a
//! [`Snapshotter`](crated_core::snapshot::Snapshotter): what the metadata
//! layer hands to code written against the core trait (the image pipeline,
//! the conformance suite), the way containerd's metadata snapshotter wraps
//! a backend per namespace.

use std::collections::HashMap;

use crated_core::Result;
use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Snapshotter, Usage};

use crate::snapshots::NamespacedSnapshots;

/// The snapshots of namespace `namespace` in snapshotter `snapshotter`,
/// optionally adding every snapshot it creates or commits to a lease.
#[derive(Clone)]
pub struct NamespacedSnapshotter {
    store: NamespacedSnapshots,
    namespace: String,
    snapshotter: String,
    lease: Option<String>,
}

impl NamespacedSnapshotter {
    /// The view of `snapshotter` in `namespace`; `InvalidArgument` when no
    /// such snapshotter is loaded.
    pub(crate) fn new(
        store: NamespacedSnapshots,
        namespace: &str,
        snapshotter: &str,
    ) -> Result<Self> {
        store.backend(snapshotter)?;
        Ok(NamespacedSnapshotter {
            store,
            namespace: namespace.to_string(),
            snapshotter: snapshotter.to_string(),
            lease: None,
        })
    }

    /// The same view, adding what it prepares, views and commits to
    /// `lease` (none for no lease).
    pub fn with_lease(mut self, lease: Option<&str>) -> Self {
        self.lease = lease.map(str::to_string);
        self
    }

    /// The namespace this view works in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The snapshotter this view works on.
    pub fn snapshotter(&self) -> &str {
        &self.snapshotter
    }
}

impl Snapshotter for NamespacedSnapshotter {
    fn stat(&self, key: &str) -> Result<Info> {
        self.store.stat(&self.namespace, &self.snapshotter, key)
    }

    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.store
            .update(&self.namespace, &self.snapshotter, info, fieldpaths)
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        self.store.usage(&self.namespace, &self.snapshotter, key)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.store.mounts(&self.namespace, &self.snapshotter, key)
    }

    fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.store.prepare(
            &self.namespace,
            &self.snapshotter,
            key,
            parent,
            labels,
            self.lease.as_deref(),
        )
    }

    fn view(&self, key: &str, parent: &str, labels: HashMap<String, String>) -> Result<Vec<Mount>> {
        self.store.view(
            &self.namespace,
            &self.snapshotter,
            key,
            parent,
            labels,
            self.lease.as_deref(),
        )
    }

    fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        self.store.commit(
            &self.namespace,
            &self.snapshotter,
            name,
            key,
            labels,
            self.lease.as_deref(),
        )
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.store.remove(&self.namespace, &self.snapshotter, key)
    }

    fn walk(&self, f: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        for info in self.store.list(&self.namespace, &self.snapshotter)? {
            f(&info)?;
        }
        Ok(())
    }

    /// Cleans the backend: removes directories no namespace refers to
    /// (the backend only keeps what some namespace's record names).
    fn cleanup(&self) -> Result<()> {
        self.store.cleanup(&self.snapshotter)
    }
}
