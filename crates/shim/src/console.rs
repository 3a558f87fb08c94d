//! Terminals: the console socket the OCI runtime sends the pty master on,
//! and the copy between the master and the process's stdio FIFOs.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use rustix::termios::{Winsize, tcsetwinsize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixListener;
use tokio::net::unix::pipe;
use tokio::task::AbortHandle;

use crate::error::{Error, Result, io_error};

/// How long the shim waits for the runtime to send the master.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// A listening socket in a private temporary directory, removed on drop.
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Creates `$TMPDIR/crated-pty-<pid>-<n>/pty.sock`.
    pub fn new() -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("crated-pty-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)
            .map_err(|e| io_error(format!("creating {}", dir.display()), e))?;
        let path = dir.join("pty.sock");
        let listener = UnixListener::bind(&path).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            io_error("failed to create OCI runtime console socket", e)
        })?;
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    /// The socket path to give the runtime.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and takes the master it sends.
    pub async fn receive_master(&self) -> Result<OwnedFd> {
        let fail =
            |msg: String| Error::unknown(format!("failed to retrieve console master: {msg}"));
        let receive = async {
            let (stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| fail(e.to_string()))?;
            loop {
                stream.readable().await.map_err(|e| fail(e.to_string()))?;
                match stream.try_io(Interest::READABLE, || receive_fd(&stream)) {
                    Ok(fd) => return Ok(fd),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(fail(e.to_string())),
                }
            }
        };
        tokio::time::timeout(RECEIVE_TIMEOUT, receive)
            .await
            .map_err(|_| fail("timed out".into()))?
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn receive_fd(stream: &impl AsFd) -> std::io::Result<OwnedFd> {
    let mut name = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    let what = if msg.bytes == 0 {
        "connection closed"
    } else {
        "no descriptor in message"
    };
    Err(std::io::Error::other(what))
}

/// A pty master being copied to and from the process's FIFOs.
pub struct Console {
    /// The master, for resizing; the copies use duplicates.
    master: OwnedFd,
    input: Option<AbortHandle>,
    output: Option<AbortHandle>,
}

impl Console {
    /// Starts copying: stdin FIFO → master and master → stdout FIFO. The
    /// output copy ends when every slave is closed (the process exited).
    pub fn start(master: OwnedFd, stdin: &str, stdout: &str) -> Result<Console> {
        let flags = fcntl_getfl(&master).map_err(|e| io_error("configuring console", e.into()))?;
        fcntl_setfl(&master, flags | OFlags::NONBLOCK)
            .map_err(|e| io_error("configuring console", e.into()))?;
        let dup = || {
            master
                .try_clone()
                .map_err(|e| io_error("duplicating console", e))
        };
        let mut console = Console {
            master: dup()?,
            input: None,
            output: None,
        };
        if !stdin.is_empty() {
            let input = pipe::OpenOptions::new()
                .open_receiver(stdin)
                .map_err(|e| io_error(format!("opening stdin fifo {stdin}"), e))?;
            // A pty polls like a pipe; tokio's pipe types drive any
            // non-blocking descriptor.
            let to_master = pipe::Sender::from_owned_fd_unchecked(dup()?)
                .map_err(|e| io_error("registering console", e))?;
            console.input = Some(tokio::spawn(copy(input, to_master)).abort_handle());
        }
        if !stdout.is_empty() {
            let output = pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(stdout)
                .map_err(|e| io_error(format!("opening stdout fifo {stdout}"), e))?;
            let from_master = pipe::Receiver::from_owned_fd_unchecked(master)
                .map_err(|e| io_error("registering console", e))?;
            console.output = Some(tokio::spawn(copy(from_master, output)).abort_handle());
        }
        Ok(console)
    }

    /// The process exited: stop forwarding input; output drains until the
    /// last slave closes.
    pub fn process_exited(&self) {
        if let Some(h) = &self.input {
            h.abort();
        }
    }

    /// Sets the terminal size.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let size = Winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&self.master, size).map_err(|e| io_error("resizing console", e.into()))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        for h in [&self.input, &self.output].into_iter().flatten() {
            h.abort();
        }
    }
}

/// Copies until end-of-file or an error (EIO on the master once no slave
/// is left).
async fn copy(mut from: pipe::Receiver, mut to: pipe::Sender) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
