//! The one place the shim needs `unsafe`: placing descriptors at fixed
//! numbers in a child between fork and exec, which the standard library has
//! no safe API for. Everything else goes through rustix's safe wrappers.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fds` the child's descriptors 3, 4, 5, … (as Go's `ExtraFiles`).
/// The descriptors stay owned by `cmd` until it is dropped.
pub fn pass_fds(cmd: &mut Command, fds: Vec<OwnedFd>) -> std::io::Result<()> {
    // Move every source above the target range first, so that placing one
    // cannot overwrite another.
    let high = 3 + fds.len() as i32 + 8;
    let fds: Vec<OwnedFd> = fds
        .iter()
        .map(|fd| rustix::io::fcntl_dupfd_cloexec(fd, high).map_err(std::io::Error::from))
        .collect::<Result<_, _>>()?;
    let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec and only
    // calls dup2(2), which is async-signal-safe; it allocates nothing. The
    // source descriptors stay open in the parent (owned by `fds`, moved
    // into the closure) until `cmd` is dropped, after the spawn.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &fds;
            for (i, fd) in raw.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn child_sees_descriptors_at_three_and_four() {
        let _serial = crate::CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let (mut r1, w1) = std::io::pipe().unwrap();
        let (mut r2, w2) = std::io::pipe().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one >&3; echo two >&4"]);
        pass_fds(&mut cmd, vec![w1.into(), w2.into()]).unwrap();
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        drop(cmd);
        let (mut a, mut b) = (String::new(), String::new());
        r1.read_to_string(&mut a).unwrap();
        r2.read_to_string(&mut b).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("one\n", "two\n"));
        let _ = std::io::stdout().flush();
    }
}
