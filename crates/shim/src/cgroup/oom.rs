//! OOM notifications for a container's cgroup: on v1 an eventfd registered
//! through `cgroup.event_control` on `memory.oom_control`; on v2 inotify on
//! `memory.events`, reporting each rise of `oom_kill`. Each watch is one
//! task that ends when the cgroup is removed.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::event::{EventfdFlags, eventfd};
use rustix::fs::inotify;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::{Cgroup, read_kv};
use crate::error::{Result, io_error};

/// Starts watching `cgroup`; `on_oom` runs once per OOM kill.
pub fn watch(cgroup: &Cgroup, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    match cgroup {
        Cgroup::V1(dirs) => {
            let Some(dir) = dirs.get("memory") else {
                return Ok(());
            };
            let fd = register_v1(dir)?;
            let dir = dir.clone();
            tokio::spawn(async move { watch_v1(fd, dir, on_oom).await });
        }
        Cgroup::V2(dir) => {
            let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                .map_err(|e| io_error("creating inotify instance", e.into()))?;
            let events = dir.join("memory.events");
            inotify::add_watch(&fd, &events, inotify::WatchFlags::MODIFY)
                .map_err(|e| io_error(format!("watching {}", events.display()), e.into()))?;
            // inotify and eventfd descriptors poll like a pipe's read end.
            let fd = pipe::Receiver::from_owned_fd_unchecked(fd)
                .map_err(|e| io_error("registering inotify", e))?;
            tokio::spawn(async move { watch_v2(fd, events, on_oom).await });
        }
    }
    Ok(())
}

/// An eventfd the kernel signals on each OOM in `dir` (and on removal).
fn register_v1(dir: &Path) -> Result<(pipe::Receiver, std::fs::File)> {
    let control = dir.join("memory.oom_control");
    let oom = std::fs::File::open(&control)
        .map_err(|e| io_error(format!("opening {}", control.display()), e))?;
    let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
        .map_err(|e| io_error("creating eventfd", e.into()))?;
    let reg = dir.join("cgroup.event_control");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&reg)
        // One write: the kernel parses each write(2) as a whole command.
        .and_then(|mut f| {
            f.write_all(format!("{} {}", efd.as_raw_fd(), oom.as_raw_fd()).as_bytes())
        })
        .map_err(|e| io_error(format!("registering OOM event in {}", reg.display()), e))?;
    let efd = pipe::Receiver::from_owned_fd_unchecked(efd)
        .map_err(|e| io_error("registering eventfd", e))?;
    Ok((efd, oom))
}

async fn watch_v1(
    (mut efd, _oom): (pipe::Receiver, std::fs::File),
    dir: PathBuf,
    on_oom: impl Fn(),
) {
    let mut buf = [0u8; 8];
    loop {
        if efd.read(&mut buf).await.is_err() {
            return;
        }
        // The kernel also signals when the cgroup goes away.
        if !dir.join("memory.oom_control").exists() {
            return;
        }
        on_oom();
    }
}

async fn watch_v2(mut fd: pipe::Receiver, events: PathBuf, on_oom: impl Fn()) {
    let oom_kills = |p: &Path| {
        read_kv(p)
            .into_iter()
            .find(|(k, _)| k == "oom_kill")
            .map(|(_, v)| v)
    };
    let mut last = oom_kills(&events).unwrap_or(0);
    let mut buf = [0u8; 1024];
    loop {
        if fd.read(&mut buf).await.is_err() {
            return;
        }
        let Some(now) = oom_kills(&events) else {
            return;
        };
        if now > last {
            on_oom();
        }
        last = now;
    }
}
