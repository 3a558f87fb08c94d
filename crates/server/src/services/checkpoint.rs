//! Task checkpoints in the content store, as containerd keeps them: the
//! runtime's checkpoint directory as a tar blob, and the container's spec.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crated_api::prost::Message;
use crated_core::image::Descriptor;
use crated_core::{Error, Result};
use crated_metadata::NamespacedContent;

use super::diff::IngestWriter;
use crate::unpack::BlobReader;

/// The media type of a checkpoint directory tar.
pub const CHECKPOINT_TAR: &str = "application/vnd.containerd.container.criu.checkpoint.criu.tar";
/// The media type of the checkpointed container's spec.
pub const CHECKPOINT_CONFIG: &str =
    "application/vnd.containerd.container.checkpoint.config.v1+proto";

/// A fresh directory for a checkpoint image, removed by the caller.
pub fn work_dir(kind: &str, ns: &str, id: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "crated-{kind}-{ns}-{id}-{:08x}",
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("creating {}", dir.display()),
            e,
        )
    })?;
    Ok(dir)
}

/// Removes the restore directories left for task `ns`/`id`.
pub fn remove_restore_dirs(ns: &str, id: &str) {
    let prefix = format!("crated-restore-{ns}-{id}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Stores `dir` as an uncompressed tar blob.
pub fn store_dir(
    content: &NamespacedContent,
    ns: &str,
    dir: &Path,
    lease: Option<&str>,
) -> Result<Descriptor> {
    let writer = content.writer(ns, &super::unique_name("checkpoint-image"), 0, "", lease)?;
    let mut out = IngestWriter {
        inner: writer,
        written: 0,
    };
    {
        let mut tar = tar::Builder::new(&mut out);
        tar.follow_symlinks(false);
        tar.append_dir_all(".", dir)
            .and_then(|_| tar.finish())
            .map_err(|e| {
                Error::with_source(
                    crated_core::ErrorKind::Internal,
                    format_args!("archiving checkpoint {}", dir.display()),
                    e,
                )
            })?;
    }
    let size = out.written;
    let digest = out.inner.commit(size, "", HashMap::new())?;
    Ok(Descriptor {
        media_type: CHECKPOINT_TAR.into(),
        digest,
        size,
        annotations: HashMap::new(),
    })
}

/// Stores the container's spec (a protobuf `Any`) as the checkpoint config.
pub fn store_spec(
    content: &NamespacedContent,
    ns: &str,
    spec: &crated_api::prost_types::Any,
    lease: Option<&str>,
) -> Result<Descriptor> {
    let bytes = spec.encode_to_vec();
    let mut writer = content.writer(
        ns,
        &super::unique_name("checkpoint-spec"),
        bytes.len() as i64,
        "",
        lease,
    )?;
    writer.write(&bytes)?;
    let digest = writer.commit(bytes.len() as i64, "", HashMap::new())?;
    Ok(Descriptor {
        media_type: CHECKPOINT_CONFIG.into(),
        digest,
        size: bytes.len() as i64,
        annotations: HashMap::new(),
    })
}

/// Unpacks a checkpoint tar from the content store into `dir`.
pub fn restore_dir(
    content: &NamespacedContent,
    ns: &str,
    desc: &Descriptor,
    dir: &Path,
) -> Result<()> {
    if desc.media_type != CHECKPOINT_TAR {
        return Err(Error::invalid_argument(format!(
            "checkpoint {} has media type {:?}, expected {CHECKPOINT_TAR}",
            desc.digest, desc.media_type
        )));
    }
    let reader = BlobReader::new(content.reader_at(ns, &desc.digest)?);
    crated_archive::apply(reader, dir, crated_archive::ApplyOptions::default())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn checkpoint_dirs_round_trip_through_the_content_store() {
        let tmp = tempfile::tempdir().unwrap();
        let db = crated_metadata::Db::open(&tmp.path().join("m.db")).unwrap();
        let store = Arc::new(crated_content::LocalStore::open(tmp.path().join("c")).unwrap());
        let content = NamespacedContent::new(db, store);
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("inventory.img"), b"criu").unwrap();
        std::fs::write(src.join("sub/pages.img"), b"pages").unwrap();
        let desc = store_dir(&content, "ns", &src, None).unwrap();
        assert_eq!(desc.media_type, CHECKPOINT_TAR);
        let dst = tmp.path().join("dst");
        std::fs::create_dir_all(&dst).unwrap();
        restore_dir(&content, "ns", &desc, &dst).unwrap();
        assert_eq!(std::fs::read(dst.join("sub/pages.img")).unwrap(), b"pages");
        let mut wrong = desc.clone();
        wrong.media_type = "application/octet-stream".into();
        assert!(restore_dir(&content, "ns", &wrong, &dst).is_err());
    }
}
