//! The kernel seam: the two system calls mounting needs, behind a trait so
//! the logic above them is unit-tested with a recording double.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

/// One mount(2) call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountCall {
    /// The source (device, directory, or a name such as `overlay`); `None`
    /// for calls that change an existing mount.
    pub source: Option<String>,
    /// The mount point.
    pub target: PathBuf,
    /// The filesystem type; `None` for calls that change an existing mount.
    pub fstype: Option<String>,
    /// The `MS_*` flags.
    pub flags: MsFlags,
    /// The filesystem data; `None` for none.
    pub data: Option<String>,
    /// A directory to make the working directory for this call, so that
    /// relative paths in `data` resolve against it.
    pub chdir: Option<PathBuf>,
}

/// The system calls mounting needs.
pub trait Syscalls: Send + Sync {
    /// Performs `call` with mount(2).
    fn mount(&self, call: &MountCall) -> Result<(), Errno>;
    /// umount2(2) of `target` with `flags`.
    fn unmount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
}

/// The real kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Linux;

impl Syscalls for Linux {
    fn mount(&self, call: &MountCall) -> Result<(), Errno> {
        match &call.chdir {
            None => raw_mount(call),
            Some(dir) => mount_in_dir(dir, call),
        }
    }

    fn unmount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }
}

fn raw_mount(call: &MountCall) -> Result<(), Errno> {
    nix::mount::mount(
        call.source.as_deref(),
        &call.target,
        call.fstype.as_deref(),
        call.flags,
        call.data.as_deref(),
    )
}

/// Mounts with `dir` as the working directory without changing the
/// process's: a short-lived thread unshares its filesystem attributes
/// (`CLONE_FS`), so its `chdir` is its own. containerd forks a child for
/// the same purpose.
fn mount_in_dir(dir: &Path, call: &MountCall) -> Result<(), Errno> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
                nix::unistd::chdir(dir)?;
                raw_mount(call)
            })
            .join()
            .unwrap_or(Err(Errno::EIO))
    })
}
