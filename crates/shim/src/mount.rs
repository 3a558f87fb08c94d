//! The rootfs seam: performing the mounts of a `Create` request on
//! `<bundle>/rootfs` and undoing them, through `crated-mount`.

use std::path::Path;

use crated_api::ttrpc::api::Mount as WireMount;
use crated_core::mount::Mount;

use crate::error::{Error, Result, io_error};

/// The domain form of a wire mount.
fn to_mount(m: &WireMount) -> Mount {
    Mount {
        mount_type: m.type_.clone(),
        source: m.source.clone(),
        target: m.target.clone(),
        options: m.options.clone(),
    }
}

/// Creates `rootfs` and mounts `mounts` on it, in order; on failure,
/// undoes what was mounted.
pub fn mount_rootfs(mounts: &[WireMount], rootfs: &Path) -> Result<()> {
    match std::fs::create_dir(rootfs) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(format!("creating {}", rootfs.display()), e)),
    }
    let mounts: Vec<Mount> = mounts.iter().map(to_mount).collect();
    crated_mount::mount_all(&mounts, rootfs).map_err(|e| {
        let _ = unmount_rootfs(rootfs);
        Error::from(e).context("failed to mount rootfs component")
    })
}

/// Unmounts everything stacked on `rootfs`; a missing directory is fine.
pub fn unmount_rootfs(rootfs: &Path) -> Result<()> {
    crated_mount::unmount_all(rootfs)
        .map_err(|e| Error::from(e).context("failed to cleanup rootfs mount"))
}
