//! Containers as metadata, per namespace.

use chrono::Utc;
use crated_core::container::Container;
use crated_core::{Error, Result, identifiers};

use crate::db::{CONTAINERS, Db};
use crate::objects::{ObjectTable, apply_map_path};

const TABLE: ObjectTable = ObjectTable {
    table: CONTAINERS,
    noun: "container",
};

/// The container store.
#[derive(Clone)]
pub struct Containers {
    db: Db,
}

fn validate(c: &Container) -> Result<()> {
    identifiers::validate(&c.id).map_err(|e| e.context("container.ID"))?;
    if c.extensions.keys().any(|k| k.is_empty()) {
        return Err(Error::invalid_argument(
            "container.Extension keys must not be zero-length",
        ));
    }
    identifiers::validate_labels(&c.labels).map_err(|e| e.context("containers.Labels"))?;
    if c.runtime.name.is_empty() {
        return Err(Error::invalid_argument(
            "container.Runtime.Name must be set",
        ));
    }
    if c.spec.is_none() {
        return Err(Error::invalid_argument("container.Spec must be set"));
    }
    if !c.snapshot_key.is_empty() && c.snapshotter.is_empty() {
        return Err(Error::invalid_argument(
            "container.Snapshotter must be set if container.SnapshotKey is set",
        ));
    }
    Ok(())
}

impl Containers {
    /// The container store over `db`.
    pub fn new(db: Db) -> Self {
        Containers { db }
    }

    /// Creates a container; `AlreadyExists` if the id is taken.
    pub fn create(&self, ns: &str, mut c: Container) -> Result<Container> {
        validate(&c).map_err(|e| e.context("create container failed validation"))?;
        let now = Utc::now();
        c.created_at = now;
        c.updated_at = now;
        c.labels.retain(|_, v| !v.is_empty());
        TABLE.create(&self.db, ns, &c.id, &c)?;
        Ok(c)
    }

    /// Reads a container.
    pub fn get(&self, ns: &str, id: &str) -> Result<Container> {
        TABLE.get(&self.db, ns, id)
    }

    /// Every container of the namespace.
    pub fn list(&self, ns: &str) -> Result<Vec<Container>> {
        TABLE.list(&self.db, ns)
    }

    /// Updates a container following containerd's field paths: `labels`,
    /// `labels.<k>`, `spec`, `extensions`, `extensions.<k>`, `image`,
    /// `snapshotkey`; none means all of those, with runtime and snapshotter
    /// immutable.
    pub fn update(&self, ns: &str, c: Container, fieldpaths: &[String]) -> Result<Container> {
        if c.id.is_empty() {
            return Err(Error::invalid_argument("must specify a container id"));
        }
        let id = c.id.clone();
        TABLE.update(&self.db, ns, &id, |current: Container| {
            let mut updated = current.clone();
            let mut paths: Vec<String> = fieldpaths.to_vec();
            if paths.is_empty() {
                if current.snapshotter != c.snapshotter {
                    return Err(Error::invalid_argument(
                        "container.Snapshotter field is immutable",
                    ));
                }
                if current.runtime.name != c.runtime.name {
                    return Err(Error::invalid_argument(
                        "container.Runtime.Name field is immutable",
                    ));
                }
                paths = ["labels", "spec", "extensions", "image", "snapshotkey"]
                    .map(String::from)
                    .to_vec();
            }
            for path in &paths {
                if apply_map_path(&mut updated.labels, &c.labels, path, "labels") {
                    continue;
                }
                if let Some(key) = path.strip_prefix("extensions.") {
                    match c.extensions.get(key) {
                        Some(v) => updated.extensions.insert(key.to_string(), v.clone()),
                        None => updated.extensions.remove(key),
                    };
                    continue;
                }
                match path.as_str() {
                    "spec" => updated.spec = c.spec.clone(),
                    "extensions" => updated.extensions = c.extensions.clone(),
                    "image" => updated.image = c.image.clone(),
                    "snapshotkey" => updated.snapshot_key = c.snapshot_key.clone(),
                    _ => {
                        return Err(Error::invalid_argument(format!(
                            "cannot update {path:?} field on {id:?}"
                        )));
                    }
                }
            }
            validate(&updated).map_err(|e| e.context("update failed validation"))?;
            updated.created_at = current.created_at;
            updated.updated_at = Utc::now();
            Ok(updated)
        })
    }

    /// Deletes a container.
    pub fn delete(&self, ns: &str, id: &str) -> Result<()> {
        TABLE.delete(&self.db, ns, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;
    use crated_core::container::{AnyValue, Runtime};

    fn container(id: &str) -> Container {
        Container {
            id: id.into(),
            labels: Default::default(),
            image: "img".into(),
            runtime: Runtime {
                name: "io.containerd.runc.v2".into(),
                options: None,
            },
            spec: Some(AnyValue {
                type_url: "spec".into(),
                value: b"{}".to_vec(),
            }),
            snapshotter: "overlayfs".into(),
            snapshot_key: id.into(),
            created_at: Default::default(),
            updated_at: Default::default(),
            extensions: Default::default(),
            sandbox: String::new(),
        }
    }

    #[test]
    fn lifecycle_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(Db::open(&dir.path().join("m.db")).unwrap());
        cs.create("ns", container("c1")).unwrap();
        assert_eq!(
            cs.create("ns", container("c1")).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            cs.create("ns", container("bad id")).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let mut no_spec = container("c2");
        no_spec.spec = None;
        assert_eq!(
            cs.create("ns", no_spec).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let mut changed = container("c1");
        changed.runtime.name = "other".into();
        assert_eq!(
            cs.update("ns", changed.clone(), &[]).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        changed.image = "new".into();
        let updated = cs.update("ns", changed, &["image".into()]).unwrap();
        assert_eq!(updated.image, "new");
        assert_eq!(updated.runtime.name, "io.containerd.runc.v2");
        assert_eq!(cs.list("ns").unwrap().len(), 1);
        cs.delete("ns", "c1").unwrap();
        assert_eq!(
            cs.delete("ns", "c1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
