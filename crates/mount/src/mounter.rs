//! Performing and undoing mounts over a [`Syscalls`] implementation.

use std::path::{Component, Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crated_core::mount::Mount;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use crate::error::MountError;
use crate::lowerdir::{compact_lowerdir_option, options_size};
use crate::options::{PROPAGATION_FLAGS, parse_mount_options};
use crate::sys::{Linux, MountCall, Syscalls};

/// How often an unmount is retried while the target is busy before it is
/// detached instead (containerd retries 50 times, 50 ms apart).
const BUSY_RETRIES: usize = 50;
const BUSY_DELAY: Duration = Duration::from_millis(50);
/// An upper bound on the mounts stacked on one target that
/// [`Mounter::unmount_all`] removes.
const MAX_STACKED: usize = 1024;
/// Margin kept below the page size before compacting `lowerdir=`, as in
/// containerd.
const PAGE_MARGIN: usize = 512;

/// Performs mounts described by [`Mount`] through `S`.
#[derive(Debug, Clone)]
pub struct Mounter<S = Linux> {
    sys: S,
    page_size: usize,
    busy_delay: Duration,
}

impl Mounter<Linux> {
    /// A mounter over the real kernel.
    pub fn linux() -> Self {
        Mounter::new(Linux)
    }
}

impl Default for Mounter<Linux> {
    fn default() -> Self {
        Mounter::linux()
    }
}

impl<S: Syscalls> Mounter<S> {
    /// A mounter over `sys`, with the system's page size as the limit of
    /// the option string.
    pub fn new(sys: S) -> Self {
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(4096);
        Mounter {
            sys,
            page_size,
            busy_delay: BUSY_DELAY,
        }
    }

    /// The same mounter waiting `delay` between retries of a busy unmount.
    pub fn with_busy_delay(mut self, delay: Duration) -> Self {
        self.busy_delay = delay;
        self
    }

    /// The same mounter with `page_size` as the limit of the option string.
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// The system calls this mounter makes.
    pub fn syscalls(&self) -> &S {
        &self.sys
    }

    /// Mounts `m` on `target` (joined with `m.target` when that is set):
    /// the main mount(2), then a propagation change if asked for, then a
    /// read-only remount for read-only bind mounts (which the kernel ignores
    /// `MS_RDONLY` on at first), as containerd does.
    pub fn mount(&self, m: &Mount, target: &Path) -> Result<(), MountError> {
        let target = join_target(target, &m.target)?;
        if m.mount_type.starts_with("fuse.") || m.mount_type.starts_with("fuse3.") {
            return Err(MountError::Unsupported(format!(
                "mounting {} on {}: FUSE mounts through a helper are not supported",
                m.mount_type,
                target.display()
            )));
        }
        let mut chdir = None;
        let mut options = m.options.clone();
        if m.mount_type == "overlay"
            && options_size(&options) >= self.page_size.saturating_sub(PAGE_MARGIN)
            && let Some((dir, compacted)) = compact_lowerdir_option(&options)
        {
            chdir = Some(dir);
            options = compacted;
        }
        let parsed = parse_mount_options(&options);
        if parsed.data.len() > self.page_size {
            return Err(MountError::OptionsTooLong {
                fstype: m.mount_type.clone(),
                target,
                len: parsed.data.len(),
                limit: self.page_size,
            });
        }
        if parsed.loop_device {
            return Err(MountError::Unsupported(format!(
                "mounting {} {} on {}: the \"loop\" option is not supported; attach a loop device and mount it instead",
                m.mount_type,
                m.source,
                target.display()
            )));
        }
        let flags = parsed.flags;
        let oflags = flags.difference(PROPAGATION_FLAGS);
        let fail = |step, errno| MountError::Mount {
            fstype: m.mount_type.clone(),
            device: m.source.clone(),
            target: target.clone(),
            step,
            errno,
        };
        if !oflags.contains(MsFlags::MS_REMOUNT) || !parsed.data.is_empty() {
            let call = MountCall {
                source: Some(m.source.clone()),
                target: target.clone(),
                fstype: Some(m.mount_type.clone()),
                flags: oflags,
                data: (!parsed.data.is_empty()).then(|| parsed.data.clone()),
                chdir,
            };
            self.sys.mount(&call).map_err(|e| fail("mount", e))?;
        }
        if flags.intersects(PROPAGATION_FLAGS) {
            let pflags = PROPAGATION_FLAGS | MsFlags::MS_REC | MsFlags::MS_SILENT;
            self.sys
                .mount(&change_call(&target, flags.intersection(pflags)))
                .map_err(|e| fail("propagation", e))?;
        }
        let bind_ro = MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        if oflags.contains(bind_ro) {
            self.sys
                .mount(&change_call(&target, oflags | MsFlags::MS_REMOUNT))
                .map_err(|e| fail("remount read-only", e))?;
        }
        Ok(())
    }

    /// Mounts every mount of `mounts` on `target`, in order; the first
    /// failure stops it (mounts already made stay for the caller to undo,
    /// e.g. with [`Mounter::unmount_all`]).
    pub fn mount_all(&self, mounts: &[Mount], target: &Path) -> Result<(), MountError> {
        mounts.iter().try_for_each(|m| self.mount(m, target))
    }

    /// Unmounts the top mount on `target`. A target that is not a mount
    /// point is success; a busy one is retried for a while and then
    /// detached (`MNT_DETACH`).
    pub fn unmount(&self, target: &Path) -> Result<(), MountError> {
        match self.unmount_once(target) {
            Err(MountError::Unmount {
                errno: Errno::EINVAL,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// Unmounts every mount stacked on `target` until none is left. A
    /// target that does not exist is success.
    pub fn unmount_all(&self, target: &Path) -> Result<(), MountError> {
        if !target.exists() {
            return Ok(());
        }
        for _ in 0..MAX_STACKED {
            match self.unmount_once(target) {
                Ok(()) => continue,
                Err(MountError::Unmount {
                    errno: Errno::EINVAL,
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(MountError::Unsupported(format!(
            "unmounting {}: more than {MAX_STACKED} mounts stacked on it",
            target.display()
        )))
    }

    fn unmount_once(&self, target: &Path) -> Result<(), MountError> {
        let fail = |errno| MountError::Unmount {
            target: target.to_path_buf(),
            errno,
        };
        for attempt in 0..BUSY_RETRIES {
            match self.sys.unmount(target, MntFlags::empty()) {
                Ok(()) => return Ok(()),
                Err(Errno::EBUSY) if attempt + 1 < BUSY_RETRIES => sleep(self.busy_delay),
                Err(Errno::EBUSY) => break,
                Err(e) => return Err(fail(e)),
            }
        }
        tracing::warn!(target = %target.display(), "mount still busy, detaching it");
        self.sys.unmount(target, MntFlags::MNT_DETACH).map_err(fail)
    }
}

fn change_call(target: &Path, flags: MsFlags) -> MountCall {
    MountCall {
        source: None,
        target: target.to_path_buf(),
        fstype: None,
        flags,
        data: None,
        chdir: None,
    }
}

/// `root` joined with a mount's relative `target`, made absolute (the
/// mount may run in another working directory).
fn join_target(root: &Path, sub: &str) -> Result<PathBuf, MountError> {
    let sub = Path::new(sub.trim_start_matches('/'));
    if sub
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(MountError::InvalidTarget {
            target: sub.display().to_string(),
            reason: "it must stay below the mount root (no \"..\")",
        });
    }
    let joined = if sub.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(sub)
    };
    std::path::absolute(&joined).map_err(|e| MountError::io("resolving mount target", joined, e))
}

#[cfg(test)]
mod tests;
