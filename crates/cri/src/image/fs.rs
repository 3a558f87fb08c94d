//! `ImageFsInfo`: what the configured snapshotter's snapshots in `k8s.io`
//! use, as containerd 1.7 answers it: one image filesystem, the
//! snapshotter's directory under the daemon root, with the bytes and inodes
//! of every snapshot summed. Like containerd 1.7 it names no separate
//! container filesystem: the containers' writable layers are snapshots of
//! the same snapshotter, counted here, and kubelet then treats the image
//! filesystem as the containers' too.

use std::path::PathBuf;

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

/// The directory of snapshotter `name` under the daemon root `root`,
/// containerd's `<root>/io.containerd.snapshotter.v1.<name>`.
fn snapshotter_root(root: Option<&std::path::Path>, name: &str) -> PathBuf {
    root.unwrap_or(std::path::Path::new("/"))
        .join(format!("io.containerd.snapshotter.v1.{name}"))
}

/// Nanoseconds since the epoch, now.
fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl CriService {
    /// `ImageFsInfo`.
    pub(crate) async fn image_fs_info(
        &self,
        _req: cri::ImageFsInfoRequest,
    ) -> Result<cri::ImageFsInfoResponse> {
        let snapshotter = self.config().containerd.snapshotter.clone();
        let snapshots = self.client().await?.snapshots(snapshotter.clone());
        let timestamp = now_nanos();
        let infos = snapshots.list(&[]).await.map_err(Error::client(format!(
            "listing the snapshots of snapshotter {snapshotter:?}"
        )))?;
        let (mut bytes, mut inodes) = (0u64, 0u64);
        for info in infos {
            match snapshots.usage(&info.name).await {
                Ok(usage) => {
                    bytes += u64::try_from(usage.size).unwrap_or(0);
                    inodes += u64::try_from(usage.inodes).unwrap_or(0);
                }
                // Removed since it was listed.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(Error::client(format!(
                        "measuring snapshot {:?} of {snapshotter:?}",
                        info.name
                    ))(e));
                }
            }
        }
        let root = self.inner.options.root.parent();
        let mountpoint = snapshotter_root(root, &snapshotter).display().to_string();
        Ok(cri::ImageFsInfoResponse {
            image_filesystems: vec![cri::FilesystemUsage {
                timestamp,
                fs_id: Some(cri::FilesystemIdentifier { mountpoint }),
                used_bytes: Some(cri::UInt64Value { value: bytes }),
                inodes_used: Some(cri::UInt64Value { value: inodes }),
            }],
            container_filesystems: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_filesystem_is_the_snapshotter_directory() {
        let root = std::path::Path::new("/var/lib/crated");
        assert_eq!(
            snapshotter_root(Some(root), "overlayfs"),
            PathBuf::from("/var/lib/crated/io.containerd.snapshotter.v1.overlayfs")
        );
    }
}
