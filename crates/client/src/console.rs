//! The caller's terminal for an interactive process: raw mode while the
//! process runs, and its size forwarded to the process's pty
//! (`ResizePty`) now and on every `SIGWINCH`, as `ctr -t` does.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use crate::error::{Error, Result};
use crate::tasks::Tasks;

/// A terminal in raw mode; dropping it restores the previous mode.
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    /// Puts the terminal `fd` in raw mode (no echo, no line editing, no
    /// signals from keys: Ctrl-C reaches the process as a byte).
    pub fn enable(fd: BorrowedFd<'_>) -> Result<RawMode> {
        let io = |e: nix::Error| Error::Io {
            context: "setting the terminal to raw mode".into(),
            source: e.into(),
        };
        let owned = fd.try_clone_to_owned().map_err(|source| Error::Io {
            context: "duplicating the terminal's descriptor".into(),
            source,
        })?;
        let saved = tcgetattr(&owned).map_err(io)?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&owned, SetArg::TCSANOW, &raw).map_err(io)?;
        Ok(RawMode { fd: owned, saved })
    }

    /// Restores the saved mode now.
    pub fn restore(&self) {
        let _ = tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The size of terminal `fd` as (columns, rows); `None` when it is not a
/// terminal.
pub fn size(fd: impl AsFd) -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(fd).ok()?;
    Some((ws.ws_col, ws.ws_row))
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: impl AsFd) -> bool {
    rustix::termios::isatty(fd)
}

/// Resizes the pty of process `exec_id` (empty: the init process) of task
/// `container_id` to the size of terminal `fd` now, then again on every
/// `SIGWINCH`, until the returned task is aborted. Failures are logged,
/// not fatal, as in `ctr`.
pub fn forward_resizes(
    tasks: Tasks,
    container_id: String,
    exec_id: String,
    fd: OwnedFd,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let resize = |tasks: Tasks,
                      container_id: String,
                      exec_id: String,
                      size: Option<(u16, u16)>| async move {
            let Some((cols, rows)) = size else {
                return;
            };
            if let Err(err) = tasks
                .resize_pty(&container_id, &exec_id, u32::from(cols), u32::from(rows))
                .await
            {
                tracing::warn!(error = %err, "resize pty");
            }
        };
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        resize(
            tasks.clone(),
            container_id.clone(),
            exec_id.clone(),
            size(&fd),
        )
        .await;
        let Some(winch) = winch.as_mut() else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(
                tasks.clone(),
                container_id.clone(),
                exec_id.clone(),
                size(&fd),
            )
            .await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_mode_round_trips_on_a_pty() {
        let Ok(pty) = nix::pty::openpty(None, None) else {
            panic!("openpty");
        };
        let before = tcgetattr(&pty.slave).ok();
        {
            let Ok(raw) = RawMode::enable(pty.slave.as_fd()) else {
                panic!("raw mode");
            };
            let now = tcgetattr(&pty.slave).ok();
            assert_ne!(now, before);
            drop(raw);
        }
        assert_eq!(tcgetattr(&pty.slave).ok(), before);
        assert!(is_terminal(&pty.slave));
        assert!(size(&pty.slave).is_some());
        let Ok(file) = tempfile::tempfile() else {
            panic!("tempfile");
        };
        assert!(!is_terminal(&file));
        assert_eq!(size(&file), None);
    }
}
