//! A pipe in front of a process's stderr, so the OCI runtime's own error
//! never reaches the process's output.
//!
//! runc and crun pass their own stdio to the process they create, and when
//! `create` or `exec` fails they print the error on that stderr. Handed the
//! client's FIFO directly, the runtime's error line would land in the
//! container's log (`docker logs`) although the process never ran. So the
//! process's stderr is a pipe the shim owns: if the runtime fails, what it
//! wrote there is read back into the shim's log (the client gets the error
//! from the runtime's JSON log, in the failed request); once the process
//! runs, the pipe is copied to the real destination until its last writer
//! closes it. Stdout needs no relay: the runtimes never write to it.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{FileType, OFlags, fcntl_getfl, fcntl_setfl, fstat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::error::{Result, io_error};

/// How much of a failed runtime's stderr goes into the shim's log.
const DISCARD_LIMIT: usize = 64 * 1024;

/// The relay of one process's stderr, not started yet.
pub struct StderrRelay {
    /// The read end of the pipe the process writes to.
    source: OwnedFd,
    /// Where the process's stderr really goes: a FIFO, pipe or file, opened
    /// for the relay alone (it may be switched to non-blocking mode).
    destination: OwnedFd,
}

impl StderrRelay {
    /// A pipe in front of `destination`: the relay, and the write end to
    /// hand the OCI runtime as the process's stderr.
    pub fn new(destination: OwnedFd) -> Result<(StderrRelay, OwnedFd)> {
        let (source, writer) =
            std::io::pipe().map_err(|e| io_error("creating the stderr relay pipe", e))?;
        Ok((
            StderrRelay {
                source: source.into(),
                destination,
            },
            writer.into(),
        ))
    }

    /// The process runs: copies its stderr to the destination on a task
    /// until every writer has closed the pipe.
    pub fn start(self) {
        tokio::spawn(async move {
            if let Err(e) = copy(self.source, self.destination).await {
                tracing::warn!(error = %e, "relaying a process's stderr");
            }
        });
    }

    /// The runtime failed to start the process: what it wrote on the
    /// process's stderr (its own error) goes to the shim's log, not to the
    /// process's output.
    pub fn discard(self) {
        let text = drain(self.source);
        let text = text.trim();
        if !text.is_empty() {
            tracing::warn!(
                output = text,
                "the OCI runtime failed; its output is kept out of the process's stderr"
            );
        }
    }
}

/// Reads what is in the pipe now (its writers are gone or idle), without
/// blocking, up to [`DISCARD_LIMIT`] bytes.
fn drain(source: OwnedFd) -> String {
    let Ok(flags) = fcntl_getfl(source.as_fd()) else {
        return String::new();
    };
    if fcntl_setfl(source.as_fd(), flags | OFlags::NONBLOCK).is_err() {
        return String::new();
    }
    let mut file = File::from(source);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < DISCARD_LIMIT {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the relay writes.
enum Sink {
    /// A FIFO or pipe, written without blocking the shim.
    Pipe(pipe::Sender),
    /// A regular file (`file://` logs): writes do not block for long.
    File(File),
}

impl Sink {
    fn open(fd: OwnedFd) -> std::io::Result<Sink> {
        let is_fifo = FileType::from_raw_mode(fstat(&fd)?.st_mode) == FileType::Fifo;
        if is_fifo {
            Ok(Sink::Pipe(pipe::Sender::from_owned_fd(fd)?))
        } else {
            Ok(Sink::File(File::from(fd)))
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Pipe(tx) => tx.write_all(data).await,
            Sink::File(f) => f.write_all(data),
        }
    }
}

/// Copies `source` to `destination` until end-of-file. If the destination
/// fails, the rest is still read (and dropped), so the process never blocks
/// on a full pipe.
async fn copy(source: OwnedFd, destination: OwnedFd) -> std::io::Result<()> {
    let mut rx = pipe::Receiver::from_owned_fd(source)?;
    let mut sink = Some(Sink::open(destination)?);
    let mut failure = None;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = rx.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if let Some(s) = sink.as_mut()
            && let Err(e) = s.write_all(&buf[..n]).await
        {
            sink = None;
            failure = Some(e);
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_keeps_the_output_out_of_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("err");
        let dest = File::create(&path).unwrap();
        let (relay, writer) = StderrRelay::new(dest.into()).unwrap();
        File::from(writer)
            .write_all(b"runc create failed: boom\n")
            .unwrap();
        assert_eq!(drain(relay.source), "runc create failed: boom\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[tokio::test]
    async fn started_relay_copies_until_the_writers_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("err");
        let dest = File::create(&path).unwrap();
        let (relay, writer) = StderrRelay::new(dest.into()).unwrap();
        let mut w = File::from(writer);
        w.write_all(b"one\n").unwrap();
        let task = tokio::spawn(copy(relay.source, relay.destination));
        w.write_all(b"two\n").unwrap();
        drop(w);
        task.await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }
}
