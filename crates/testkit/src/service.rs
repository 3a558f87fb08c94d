//! The other daemons the tests run beside crated (dockerd, containerd):
//! started with their output in a log file, waited for until they answer,
//! stopped by their pid, and the mounts they leave removed.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::cmd::{die_with_parent, signal_pid};
use crate::workload::mounts_under;

/// Reads a log file for a failure message.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Spawns `cmd` with stdin closed and stdout and stderr appended to `log`;
/// the process is killed if the test thread dies.
#[track_caller]
pub fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot duplicate the log file handle: {e}"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    die_with_parent(&mut cmd);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Polls `ready` every 50 ms until it holds. Fails the test, with the log,
/// if the process exits first or `timeout` passes (stopping it then).
#[track_caller]
pub fn wait_ready(
    child: &mut Option<Child>,
    what: &str,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(c) = child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            *child = None;
            panic!(
                "{what} exited with {status} before answering\n--- {what} log ---\n{}",
                read_log(log)
            );
        }
        if ready() {
            return;
        }
        if Instant::now() >= deadline {
            if let Some(c) = child.take() {
                stop_by_pid(c, Duration::from_secs(5));
            }
            panic!(
                "{what} did not answer within {timeout:?}\n--- {what} log ---\n{}",
                read_log(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM (by pid) and waits up to `timeout`; then SIGKILL. Returns
/// the exit status if the process exited on SIGTERM in time.
pub fn stop_by_pid(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    signal_pid(child.id(), Signal::SIGTERM);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    signal_pid(child.id(), Signal::SIGKILL);
    let _ = child.wait();
    None
}

/// Lazily unmounts every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let mut mounts = mounts_under(&[dir.to_path_buf()]);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}
