//! btrfs subvolume operations, through the `btrfs` program of btrfs-progs
//! (the ioctls would need `unsafe`, which this workspace denies). Behind a
//! trait so another implementation can replace it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crated_core::{Error, ErrorKind, Result};

/// The subvolume operations the btrfs snapshotter needs.
pub(crate) trait Subvolumes: Send + Sync {
    /// Creates an empty subvolume at `path` (which must not exist).
    fn create(&self, path: &Path) -> Result<()>;
    /// Snapshots subvolume `source` as `dest` (which must not exist),
    /// read-only if asked.
    fn snapshot(&self, source: &Path, dest: &Path, readonly: bool) -> Result<()>;
    /// Deletes the subvolume at `path`.
    fn delete(&self, path: &Path) -> Result<()>;
    /// The id of the subvolume at `path`.
    fn id(&self, path: &Path) -> Result<u64>;
}

/// [`Subvolumes`] by running `btrfs` (btrfs-progs).
pub(crate) struct BtrfsCli {
    program: PathBuf,
}

impl Default for BtrfsCli {
    fn default() -> Self {
        BtrfsCli {
            program: PathBuf::from("btrfs"),
        }
    }
}

impl BtrfsCli {
    /// Runs `btrfs <args>` and returns its standard output.
    fn run(&self, args: &[&OsStr]) -> Result<String> {
        let shown = || {
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let out = Command::new(&self.program)
            .args(args)
            .output()
            .map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorKind::FailedPrecondition
                } else {
                    ErrorKind::Unknown
                };
                Error::new(
                    kind,
                    format!(
                        "running {} {}: {e} (the btrfs snapshotter needs btrfs-progs installed)",
                        self.program.display(),
                        shown()
                    ),
                )
            })?;
        if !out.status.success() {
            return Err(Error::unknown(format!(
                "{} {} failed ({}): {}",
                self.program.display(),
                shown(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Subvolumes for BtrfsCli {
    fn create(&self, path: &Path) -> Result<()> {
        self.run(&["subvolume".as_ref(), "create".as_ref(), path.as_os_str()])
            .map(drop)
    }

    fn snapshot(&self, source: &Path, dest: &Path, readonly: bool) -> Result<()> {
        let mut args: Vec<&OsStr> = vec!["subvolume".as_ref(), "snapshot".as_ref()];
        if readonly {
            args.push("-r".as_ref());
        }
        args.extend([source.as_os_str(), dest.as_os_str()]);
        self.run(&args).map(drop)
    }

    fn delete(&self, path: &Path) -> Result<()> {
        self.run(&["subvolume".as_ref(), "delete".as_ref(), path.as_os_str()])
            .map(drop)
    }

    fn id(&self, path: &Path) -> Result<u64> {
        let out = self.run(&[
            "inspect-internal".as_ref(),
            "rootid".as_ref(),
            path.as_os_str(),
        ])?;
        out.trim().parse().map_err(|_| {
            Error::unknown(format!(
                "btrfs inspect-internal rootid {}: unexpected output {out:?}",
                path.display()
            ))
        })
    }
}
