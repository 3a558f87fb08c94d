//! Images: names pointing at root descriptors, per namespace.

use chrono::Utc;
use crated_core::image::{Descriptor, Image};
use crated_core::{Error, Result, digest, identifiers};

use crate::db::{Db, IMAGES};
use crate::objects::{ObjectTable, apply_map_path};

const TABLE: ObjectTable = ObjectTable {
    table: IMAGES,
    noun: "image",
};

/// The image store.
#[derive(Clone)]
pub struct Images {
    db: Db,
}

fn validate_target(d: &Descriptor) -> Result<()> {
    if d.digest.is_empty() {
        return Err(Error::invalid_argument(
            "image.Target.Digest must not be empty",
        ));
    }
    digest::validate(&d.digest).map_err(|e| e.context("image.Target.Digest"))?;
    if d.media_type.is_empty() {
        return Err(Error::invalid_argument(
            "image.Target.MediaType must not be empty",
        ));
    }
    Ok(())
}

fn validate(image: &Image) -> Result<()> {
    if image.name.is_empty() {
        return Err(Error::invalid_argument("image name must not be empty"));
    }
    if image.name.contains('\0') {
        return Err(Error::invalid_argument("image name must not contain NUL"));
    }
    identifiers::validate_labels(&image.labels).map_err(|e| e.context("image.Labels"))?;
    validate_target(&image.target)
}

impl Images {
    /// The image store over `db`.
    pub fn new(db: Db) -> Self {
        Images { db }
    }

    /// Creates an image; `AlreadyExists` if the name is taken.
    pub fn create(&self, ns: &str, mut image: Image) -> Result<Image> {
        validate(&image)?;
        let now = Utc::now();
        image.created_at = now;
        image.updated_at = now;
        image.labels.retain(|_, v| !v.is_empty());
        TABLE.create(&self.db, ns, &image.name, &image)?;
        Ok(image)
    }

    /// Reads an image by name.
    pub fn get(&self, ns: &str, name: &str) -> Result<Image> {
        TABLE.get(&self.db, ns, name)
    }

    /// Every image of the namespace.
    pub fn list(&self, ns: &str) -> Result<Vec<Image>> {
        TABLE.list(&self.db, ns)
    }

    /// Updates an image following containerd's field paths (`labels`,
    /// `labels.<k>`, `target`, `annotations`, `annotations.<k>`; none means
    /// replace everything).
    pub fn update(&self, ns: &str, image: Image, fieldpaths: &[String]) -> Result<Image> {
        if image.name.is_empty() {
            return Err(Error::invalid_argument("image name is required for update"));
        }
        let name = image.name.clone();
        TABLE.update(&self.db, ns, &name, |current: Image| {
            let mut updated = current.clone();
            if fieldpaths.is_empty() {
                updated = image.clone();
            }
            for path in fieldpaths {
                if apply_map_path(&mut updated.labels, &image.labels, path, "labels")
                    || apply_map_path(
                        &mut updated.target.annotations,
                        &image.target.annotations,
                        path,
                        "annotations",
                    )
                {
                    continue;
                }
                if path == "target" {
                    updated.target = image.target.clone();
                } else {
                    return Err(Error::invalid_argument(format!(
                        "cannot update {path:?} field on image {name:?}"
                    )));
                }
            }
            updated.labels.retain(|_, v| !v.is_empty());
            validate(&updated)?;
            updated.created_at = current.created_at;
            updated.updated_at = Utc::now();
            Ok(updated)
        })
    }

    /// Deletes an image by name.
    pub fn delete(&self, ns: &str, name: &str) -> Result<()> {
        TABLE.delete(&self.db, ns, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    fn image(name: &str) -> Image {
        Image {
            name: name.into(),
            labels: Default::default(),
            target: Descriptor {
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest: format!("sha256:{}", "1".repeat(64)),
                size: 10,
                annotations: Default::default(),
            },
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let images = Images::new(Db::open(&dir.path().join("m.db")).unwrap());
        let created = images.create("ns", image("docker.io/library/a:1")).unwrap();
        assert_eq!(
            images
                .create("ns", image("docker.io/library/a:1"))
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(images.list("other").unwrap().len(), 0);
        let mut changed = created.clone();
        changed.labels.insert("x".into(), "y".into());
        let updated = images
            .update("ns", changed.clone(), &["labels.x".into()])
            .unwrap();
        assert_eq!(updated.labels["x"], "y");
        assert_eq!(updated.created_at, created.created_at);
        assert_eq!(
            images
                .update("ns", changed, &["name".into()])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        let mut bad = image("b");
        bad.target.digest = "nope".into();
        assert_eq!(
            images.create("ns", bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        images.delete("ns", "docker.io/library/a:1").unwrap();
        assert_eq!(
            images
                .get("ns", "docker.io/library/a:1")
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
    }
}
