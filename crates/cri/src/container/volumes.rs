//! Filling an image volume's host directory with what the image has at
//! the volume's path, the way containerd's `WithVolumes` does after its
//! CVE-2022-23648 fix: the path is resolved inside the container's root
//! filesystem, symlinks included, so a volume declared at a symlink that
//! points elsewhere (`/data -> /etc`, `../../..`) copies from the image's
//! files, never from the host's.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crated_oci::scoped_path;

use crate::error::{Error, Result};

/// Copies the content of `volume` (a path in the image) under `root`
/// into `host_dir`, unless `host_dir` already has content or the image
/// has nothing there. Symlinks are copied as symlinks, never followed.
pub fn copy_volume(root: &Path, volume: &str, host_dir: &Path) -> Result<()> {
    let src = scoped_path(root, volume);
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    };
    let meta = match std::fs::symlink_metadata(&src) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(io("checking an image volume in the root filesystem", &src)(
                e,
            ));
        }
    };
    if !meta.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(host_dir)
        .map_err(io("creating an image volume's directory", host_dir))?;
    let mut entries = std::fs::read_dir(host_dir).map_err(io("reading", host_dir))?;
    if entries.next().is_some() {
        return Ok(());
    }
    copy_tree(&src, host_dir)?;
    copy_owner_and_mode(host_dir, &meta)
}

fn copy_owner_and_mode(dst: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let io = |what: &'static str| {
        let path = dst.to_path_buf();
        move |source| Error::Io { what, path, source }
    };
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
        .map_err(io("setting the owner of an image volume's copy"))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io("setting the mode of an image volume's copy"))?;
    }
    Ok(())
}

/// Copies the directory `src`'s entries into the existing directory `dst`.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    };
    for entry in std::fs::read_dir(src).map_err(io("reading", src))? {
        let entry = entry.map_err(io("reading", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from).map_err(io("checking", &from))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&from).map_err(io("reading the link", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io("creating the link", &to))?;
        } else if kind.is_dir() {
            std::fs::create_dir(&to).map_err(io("creating", &to))?;
            copy_tree(&from, &to)?;
        } else if kind.is_file() {
            std::fs::copy(&from, &to).map_err(io("copying into", &to))?;
        } else {
            // Devices, fifos and sockets in a volume are not copied.
            continue;
        }
        copy_owner_and_mode(&to, &meta)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_2022_23648_image_volume_symlink_cannot_escape_rootfs() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host-secret");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("shadow"), "host secret").unwrap();
        let root = tmp.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/image-file"), "from the image").unwrap();
        // Absolute and relative links that, followed on the host, leave the root.
        std::os::unix::fs::symlink(&host, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();

        let abs = tmp.path().join("vol-abs");
        copy_volume(&root, "/abs", &abs).unwrap();
        assert!(!abs.join("shadow").exists(), "copied the host's files");

        let up = tmp.path().join("vol-up");
        copy_volume(&root, "/up/host-secret", &up).unwrap();
        assert!(!up.join("shadow").exists(), "climbed out of the root");

        let data = tmp.path().join("vol-data");
        copy_volume(&root, "/data", &data).unwrap();
        assert_eq!(
            std::fs::read_to_string(data.join("image-file")).unwrap(),
            "from the image"
        );
        assert!(!data.join("passwd").exists() || root.join("etc/passwd").exists());
    }

    #[test]
    fn volume_copy_keeps_links_and_skips_filled_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        std::fs::create_dir_all(root.join("var/lib/app/sub")).unwrap();
        std::fs::write(root.join("var/lib/app/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("var/lib/app/link")).unwrap();
        let dst = tmp.path().join("vol");
        copy_volume(&root, "/var/lib/app", &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        std::fs::write(root.join("var/lib/app/new"), "y").unwrap();
        copy_volume(&root, "/var/lib/app", &dst).unwrap();
        assert!(
            !dst.join("new").exists(),
            "a filled volume was copied into again"
        );
        copy_volume(&root, "/missing", &tmp.path().join("none")).unwrap();
        assert!(!tmp.path().join("none").exists());
    }
}
