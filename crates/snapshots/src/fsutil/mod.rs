//! Filesystem helpers the backends share: disk usage, tree copies, and
//! temporary directories that are removed unless kept.

mod copy;
mod usage;
mod xattr;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crated_core::Result;

use crate::errors::{errno_error, io_error};

pub(crate) use copy::copy_dir;
pub(crate) use usage::{diff_usage, disk_usage};
#[cfg(feature = "testsuite")]
pub(crate) use xattr::{get_xattrs, set_xattrs};

/// Creates `dir` (and its parents) and gives it `mode`.
pub(crate) fn ensure_dir(dir: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error("creating directory", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("setting permissions of", dir, e))
}

/// Creates `path` as a directory with exactly `mode` (whatever the umask).
pub(crate) fn make_dir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir(path).map_err(|e| io_error("creating directory", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("setting permissions of", path, e))
}

/// Removes `path` and everything below it; a missing path is success.
pub(crate) fn remove_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| io_error("removing", path, e)),
    }
}

/// A directory made under a temporary name, removed on drop unless
/// [`TempDir::keep`] says it has been moved into place.
pub(crate) struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    /// Makes `<parent>/<prefix>XXXXXX` with `mode`.
    pub fn new(parent: &Path, prefix: &str, mode: u32) -> Result<Self> {
        let template = parent.join(format!("{prefix}XXXXXX"));
        let path = nix::unistd::mkdtemp(&template)
            .map_err(|e| errno_error("creating temporary directory", &template, e))?;
        let dir = TempDir { path: Some(path) };
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| io_error("setting permissions of", dir.path(), e))?;
        Ok(dir)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Renames it to `dest` (replacing a stale `dest` left by a crash, which
    /// cannot belong to a live snapshot since its id was just allocated)
    /// and stops removing it.
    pub fn rename_into(mut self, dest: &Path) -> Result<()> {
        let from = self.path.take().unwrap_or_default();
        let renamed = remove_all(dest).and_then(|()| {
            fs::rename(&from, dest)
                .map_err(|e| io_error(&format!("renaming {} to", from.display()), dest, e))
        });
        if renamed.is_err() {
            self.path = Some(from);
        }
        renamed
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.path.take()
            && let Err(e) = remove_all(&path)
        {
            tracing::warn!(error = %e, "removing temporary snapshot directory");
        }
    }
}

/// Directories under `dir` whose names `keep` rejects: what cleanup removes.
pub(crate) fn unreferenced(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error("listing", dir, e))? {
        let entry = entry.map_err(|e| io_error("listing", dir, e))?;
        let name = entry.file_name();
        if !keep(&name.to_string_lossy()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}
