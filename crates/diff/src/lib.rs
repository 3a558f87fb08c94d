//! The diff plugins: an applier that unpacks a layer onto the mounts of a
//! snapshot, and a comparer that turns the difference between two mounts
//! into a layer. Snapshotters only describe mounts; this crate performs
//! them, or skips mounting when the target directory can be written
//! directly (an overlay upper directory, a bind mount's source).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crated_archive::{ApplyOptions, ApplyStats, Compression, Compressor, DiffStats, Whiteouts};
use crated_core::mount::Mount;
use crated_core::{Error, Result};

/// The media type of an uncompressed OCI layer.
pub const LAYER_TAR: &str = crated_core::media::OCI_LAYER;
/// The label carrying a compressed layer's uncompressed digest.
pub const UNCOMPRESSED_LABEL: &str = "containerd.io/uncompressed";

/// Settings of the applier.
#[derive(Debug, Clone, Default)]
pub struct ApplyConfig {
    /// Largest uncompressed layer accepted, in bytes (`None`: unbounded).
    pub max_size: Option<u64>,
}

fn option<'a>(m: &'a Mount, key: &str) -> Option<&'a str> {
    m.options
        .iter()
        .find_map(|o| o.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Where a layer can be written without mounting, and how.
fn direct_target(mounts: &[Mount]) -> Option<(PathBuf, Whiteouts, Vec<PathBuf>)> {
    let [m] = mounts else { return None };
    if m.read_only() {
        return None;
    }
    match m.mount_type.as_str() {
        "overlay" => {
            let upper = option(m, "upperdir")?;
            let lowers = option(m, "lowerdir")
                .map(|l| l.split(':').map(PathBuf::from).collect())
                .unwrap_or_default();
            Some((PathBuf::from(upper), Whiteouts::Overlay, lowers))
        }
        "bind" | "rbind" => Some((PathBuf::from(&m.source), Whiteouts::Oci, Vec::new())),
        _ => None,
    }
}

/// Unpacks the (possibly compressed) layer `reader` of `media_type` onto
/// the snapshot described by `mounts`. Unknown media types are refused with
/// `NotImplemented`; malicious entries with `InvalidArgument`.
pub fn apply(
    mounts: &[Mount],
    media_type: &str,
    reader: impl Read + Send,
    config: &ApplyConfig,
) -> Result<ApplyStats> {
    let (_, stream) = crated_archive::decompress_media_type(media_type, reader)?;
    let options = |whiteouts, parents| ApplyOptions {
        whiteouts,
        max_size: config.max_size,
        parents,
        strict_paths: false,
    };
    match direct_target(mounts) {
        Some((root, whiteouts, parents)) => {
            crated_archive::apply(stream, &root, options(whiteouts, parents))
        }
        None => crated_mount::with_temp_mount(mounts, |dir: &Path| {
            crated_archive::apply(stream, dir, options(Whiteouts::Oci, Vec::new()))
        }),
    }
}

/// The compression a comparer should use for `media_type` (empty: gzip).
pub fn compression_for(media_type: &str) -> Result<(Compression, String)> {
    let media_type = if media_type.is_empty() {
        crated_core::media::OCI_LAYER_GZIP
    } else {
        media_type
    };
    let compression = Compression::from_media_type(media_type)?;
    Ok((compression, media_type.to_string()))
}

/// When `upper` is an overlay whose lower layers are exactly `lower`'s, the
/// layer is its upper directory.
fn overlay_upper_over(lower: &[Mount], upper: &[Mount]) -> Option<PathBuf> {
    let [u] = upper else { return None };
    if u.mount_type != "overlay" {
        return None;
    }
    let upperdir = option(u, "upperdir")?;
    let upper_lowers: Vec<&str> = option(u, "lowerdir")
        .map(|l| l.split(':').collect())
        .unwrap_or_default();
    let lower_dirs: Vec<&str> = match lower {
        [] => Vec::new(),
        [l] if l.mount_type == "overlay" => {
            let mut dirs: Vec<&str> = option(l, "upperdir").into_iter().collect();
            dirs.extend(
                option(l, "lowerdir")
                    .map(|x| x.split(':').collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            dirs
        }
        [l] if l.mount_type == "bind" || l.mount_type == "rbind" => vec![l.source.as_str()],
        _ => return None,
    };
    (upper_lowers == lower_dirs).then(|| PathBuf::from(upperdir))
}

/// Writes the changes from `lower` to `upper` as a layer compressed with
/// `compression` into `writer`; returns the uncompressed digest and size.
pub fn compare<W: Write>(
    lower: &[Mount],
    upper: &[Mount],
    compression: Compression,
    writer: W,
) -> Result<DiffStats> {
    let mut out = Compressor::new(writer, compression)?;
    let stats = match overlay_upper_over(lower, upper) {
        Some(upperdir) => crated_archive::diff_overlay_upper(&upperdir, &mut out)?,
        None => crated_mount::with_readonly_temp_mount(upper, |upper_dir: &Path| {
            if lower.is_empty() {
                let empty = empty_dir()?;
                crated_archive::diff(empty.path(), upper_dir, &mut out)
            } else {
                crated_mount::with_readonly_temp_mount(lower, |lower_dir: &Path| {
                    crated_archive::diff(lower_dir, upper_dir, &mut out)
                })
            }
        })?,
    };
    out.finish()?;
    Ok(stats)
}

/// An empty directory removed on drop.
struct EmptyDir(PathBuf);

impl EmptyDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn empty_dir() -> Result<EmptyDir> {
    let base = crated_mount::temp_mount_location();
    for attempt in 0..100u32 {
        let path = base.join(format!("crated-empty-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(EmptyDir(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::with_source(
                    crated_core::ErrorKind::Internal,
                    format_args!("creating {}", path.display()),
                    e,
                ));
            }
        }
    }
    Err(Error::internal(
        "could not create an empty directory to diff against",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(upper: &str, lower: &str) -> Mount {
        Mount {
            mount_type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec![
                format!("upperdir={upper}"),
                "workdir=/w".into(),
                format!("lowerdir={lower}"),
            ],
        }
    }

    #[test]
    fn direct_targets() {
        let (root, w, parents) = direct_target(&[overlay("/u", "/a:/b")]).unwrap();
        assert_eq!(
            (root, w, parents.len()),
            (PathBuf::from("/u"), Whiteouts::Overlay, 2)
        );
        let bind = Mount {
            mount_type: "bind".into(),
            source: "/s".into(),
            target: String::new(),
            options: vec!["rbind".into(), "rw".into()],
        };
        assert_eq!(
            direct_target(std::slice::from_ref(&bind)).unwrap().1,
            Whiteouts::Oci
        );
        let mut ro = bind;
        ro.options.push("ro".into());
        assert!(direct_target(&[ro]).is_none());
    }

    #[test]
    fn overlay_fast_path_only_over_the_same_lowers() {
        let lower = overlay("/l1", "/l2");
        assert_eq!(
            overlay_upper_over(std::slice::from_ref(&lower), &[overlay("/u", "/l1:/l2")]),
            Some(PathBuf::from("/u"))
        );
        assert_eq!(overlay_upper_over(&[lower], &[overlay("/u", "/x")]), None);
    }

    #[test]
    #[ignore = "requires root"]
    fn apply_and_compare_round_trip_on_bind_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::create_dir(&target).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "hello.txt", &b"hello"[..])
            .unwrap();
        let layer = builder.into_inner().unwrap();
        let bind = Mount {
            mount_type: "bind".into(),
            source: target.display().to_string(),
            target: String::new(),
            options: vec!["rbind".into(), "rw".into()],
        };
        let stats = apply(&[bind], LAYER_TAR, &layer[..], &ApplyConfig::default()).unwrap();
        assert!(stats.diff_id.starts_with("sha256:"));
        assert_eq!(std::fs::read(target.join("hello.txt")).unwrap(), b"hello");
        assert!(
            apply(
                &[],
                "application/x-unknown",
                &layer[..],
                &ApplyConfig::default()
            )
            .is_err()
        );
    }
}
