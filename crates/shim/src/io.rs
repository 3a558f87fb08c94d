//! A process's stdio as containerd describes it: FIFO paths (or plain
//! files), a `file://` log path, a `binary://` logging program, or nothing.
//!
//! Unlike the Go shim, which copies between pipes and the FIFOs, the shim
//! hands the stdin and stdout FIFOs themselves to the OCI runtime: no copy
//! loop, no buffer, no task for them. Stderr goes through a
//! [`StderrRelay`], so the runtime's own error on a failed start stays out
//! of it. The shim keeps a writer on the stdin FIFO so the process sees
//! end-of-file only after `CloseIO` (and the client's own close).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use crate::error::{Error, Result, io_error};
use crate::logger::BinaryLogger;
use crate::reaper::Reaper;
use crate::relay::StderrRelay;
use crate::runtime::ChildStdio;

/// The stdio of a process as requested: paths or URIs, and whether it has a
/// terminal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stdio {
    /// The stdin FIFO, or empty.
    pub stdin: String,
    /// The stdout FIFO, file or URI, or empty.
    pub stdout: String,
    /// The stderr FIFO or file, or empty.
    pub stderr: String,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

/// What the shim keeps of a process's stdio while it runs.
#[derive(Default)]
pub struct ProcessIo {
    /// A writer on the stdin FIFO that keeps it open until `CloseIO`.
    stdin: Option<OwnedFd>,
    /// The logging program of a `binary://` URI.
    logger: Option<BinaryLogger>,
    /// The stderr relay until the process runs.
    relay: Option<StderrRelay>,
    /// `CloseIO` was asked for: a writer installed later (an exec still
    /// starting when it came) is dropped at once.
    stdin_closed: bool,
}

impl ProcessIo {
    /// Drops the shim's stdin writer: the process sees end-of-file once the
    /// client has closed its end too.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
        self.stdin_closed = true;
    }

    /// Takes the place of this (empty) io with `io`, the io of a process
    /// that just started, keeping a `CloseIO` that came during the start.
    pub fn install(&mut self, mut io: ProcessIo) {
        if self.stdin_closed {
            io.close_stdin();
        }
        *self = io;
    }

    /// The runtime created the process: its stderr relay starts copying.
    pub fn started(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.start();
        }
    }

    /// Releases everything; a logging program gets SIGTERM and time to
    /// flush. A relay that never started (the runtime failed) hands what the
    /// runtime wrote to the shim's log.
    pub async fn close(mut self, reaper: &Reaper) {
        self.stdin = None;
        if let Some(relay) = self.relay.take() {
            relay.discard();
        }
        if let Some(logger) = self.logger.take() {
            logger.stop(reaper).await;
        }
    }

    /// Keeps a stdin writer for a process whose terminal copies stdin.
    pub fn with_stdin_writer(stdin: Option<OwnedFd>) -> Self {
        ProcessIo {
            stdin,
            ..ProcessIo::default()
        }
    }
}

/// Opens the stdio of a process without a terminal: the descriptors the OCI
/// runtime passes on, and what the shim keeps.
pub async fn open(
    stdio: &Stdio,
    namespace: &str,
    id: &str,
    reaper: &Reaper,
) -> Result<(ChildStdio, ProcessIo)> {
    let mut child = ChildStdio::default();
    let mut keep = ProcessIo::default();
    if !stdio.stdin.is_empty() {
        let (reader, writer) = open_stdin(&stdio.stdin)?;
        child.stdin = Some(reader);
        keep.stdin = Some(writer);
    }
    // Each stderr destination is opened on its own (never a dup of stdout):
    // the relay may make it non-blocking, which must not reach stdout.
    let mut stderr = None;
    match Target::parse(&stdio.stdout)? {
        Target::None => {}
        Target::Path(stdout) => {
            child.stdout = Some(open_output(stdout)?);
            if stdio.stderr == stdio.stdout {
                stderr = Some(open_output(stdout)?);
            }
        }
        Target::File(path) => {
            child.stdout = Some(open_log_file(&path)?);
            stderr = Some(open_log_file(&path)?);
        }
        Target::Binary { path, args } => {
            let (logger, out, err) =
                BinaryLogger::spawn(&path, &args, namespace, id, reaper).await?;
            keep.logger = Some(logger);
            child.stdout = Some(out);
            stderr = Some(err);
        }
    }
    if stderr.is_none() && !stdio.stderr.is_empty() {
        stderr = Some(open_output(&stdio.stderr)?);
    }
    if let Some(destination) = stderr {
        let (relay, writer) = StderrRelay::new(destination)?;
        child.stderr = Some(writer);
        keep.relay = Some(relay);
    }
    Ok((child, keep))
}

/// Where a process's output goes.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    None,
    /// A FIFO or file path (no scheme, or `fifo://`).
    Path(&'a str),
    /// `file:///path`: stdout and stderr appended to one file.
    File(String),
    /// `binary:///path?arg=value`: a logging program.
    Binary {
        path: String,
        args: Vec<String>,
    },
}

impl<'a> Target<'a> {
    fn parse(uri: &'a str) -> Result<Self> {
        if uri.is_empty() {
            return Ok(Target::None);
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(Target::Path(uri));
        };
        // `scheme://host/path?query`; the host is ignored as containerd does.
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = match rest.find('/') {
            Some(i) => percent_decode(&rest[i..]),
            None => String::new(),
        };
        match scheme {
            "fifo" => Ok(Target::Path(&uri[scheme.len() + 3..])),
            "file" if !path.is_empty() => Ok(Target::File(path)),
            "binary" if !path.is_empty() => Ok(Target::Binary {
                path,
                args: query_args(query),
            }),
            "file" | "binary" => Err(Error::invalid_argument(format!(
                "stdio URI {uri:?} has no path"
            ))),
            other => Err(Error::invalid_argument(format!(
                "unknown STDIO scheme {other}"
            ))),
        }
    }
}

/// The logging program's arguments: each query key, then its first value,
/// in key order (Go's `url.Values` iteration is unordered; sorting is
/// deterministic).
fn query_args(query: &str) -> Vec<String> {
    let mut values: HashMap<String, Option<String>> = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(pair), None),
        };
        values.entry(k).or_insert(v);
    }
    let mut keys: Vec<_> = values.into_iter().collect();
    keys.sort();
    keys.into_iter()
        .flat_map(|(k, v)| std::iter::once(k).chain(v))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens the stdin FIFO: a blocking reader for the process, and a writer the
/// shim keeps. The reader is opened first so the writer's open succeeds.
pub fn open_stdin(path: &str) -> Result<(OwnedFd, OwnedFd)> {
    let reader = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io_error(format!("opening stdin fifo {path}"), e))?;
    set_blocking(&reader).map_err(|e| io_error(format!("configuring stdin fifo {path}"), e))?;
    let writer = open_stdin_writer(path)?;
    Ok((reader.into(), writer))
}

/// Opens a writer on the stdin FIFO, which a reader already holds open.
pub fn open_stdin_writer(path: &str) -> Result<OwnedFd> {
    let writer = OpenOptions::new()
        .write(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io_error(format!("failed to open stdin fifo {path}"), e))?;
    Ok(writer.into())
}

/// Opens an output FIFO read-write (which never blocks and keeps a reader,
/// as the Go shim's copy loop does) or a plain file for appending.
fn open_output(path: &str) -> Result<OwnedFd> {
    let is_fifo = std::fs::metadata(path)
        .map(|m| m.file_type().is_fifo())
        .map_err(|e| io_error(format!("opening {path}"), e))?;
    let mut opts = OpenOptions::new();
    if is_fifo {
        opts.read(true).write(true);
    } else {
        opts.append(true);
    }
    let f = opts
        .open(path)
        .map_err(|e| io_error(format!("opening {path}"), e))?;
    Ok(f.into())
}

fn open_log_file(path: &str) -> Result<OwnedFd> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(format!("creating {}", dir.display()), e))?;
    }
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| io_error(format!("opening log file {path}"), e))?;
    Ok(f.into())
}

fn set_blocking(f: &File) -> std::io::Result<()> {
    let flags = fcntl_getfl(f.as_fd())?;
    fcntl_setfl(f.as_fd(), flags - OFlags::NONBLOCK)?;
    Ok(())
}

/// How long to wait for a logging program to say it is ready.
pub const LOGGER_READY_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// A `CloseIO` that reaches an exec while it is still starting (its io
    /// not installed yet) still closes the stdin writer installed after.
    #[test]
    fn close_io_during_start_closes_the_installed_stdin() {
        use std::io::{Read, Write};
        let mut buf = [0u8; 1];
        let (mut reader, writer) = std::io::pipe().unwrap();
        // A writer left open reads as WouldBlock, not as a hang.
        rustix::io::ioctl_fionbio(&reader, true).unwrap();
        let mut io = ProcessIo::default();
        io.close_stdin();
        io.install(ProcessIo::with_stdin_writer(Some(writer.into())));
        assert_eq!(reader.read(&mut buf).unwrap(), 0, "stdin writer kept open");

        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut io = ProcessIo::default();
        io.install(ProcessIo::with_stdin_writer(Some(writer.into())));
        let fd = io.stdin.as_ref().unwrap().try_clone().unwrap();
        std::fs::File::from(fd).write_all(b"x").unwrap();
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
        io.close_stdin();
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn targets_parse_like_containerd() {
        assert_eq!(Target::parse("").unwrap(), Target::None);
        assert_eq!(
            Target::parse("/run/fifo/x-stdout").unwrap(),
            Target::Path("/run/fifo/x-stdout")
        );
        assert_eq!(Target::parse("fifo:///a/b").unwrap(), Target::Path("/a/b"));
        assert_eq!(
            Target::parse("file:///var/log/a%20b.log").unwrap(),
            Target::File("/var/log/a b.log".into())
        );
        assert_eq!(
            Target::parse("binary:///usr/bin/logger?b=2&a=1&flag").unwrap(),
            Target::Binary {
                path: "/usr/bin/logger".into(),
                args: vec![
                    "a".into(),
                    "1".into(),
                    "b".into(),
                    "2".into(),
                    "flag".into()
                ],
            }
        );
        assert!(Target::parse("tcp://x:1/y").is_err());
        assert!(Target::parse("file://").is_err());
    }

    #[test]
    fn stdin_fifo_gives_reader_and_keepalive_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("in");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (reader, writer) = open_stdin(fifo.to_str().unwrap()).unwrap();
        let flags = fcntl_getfl(&reader).unwrap();
        assert!(!flags.contains(OFlags::NONBLOCK));
        drop(writer);
        drop(reader);
    }

    #[test]
    fn file_uri_appends_to_one_file_for_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sub/out.log");
        let out = open_log_file(log.to_str().unwrap()).unwrap();
        let err = open_log_file(log.to_str().unwrap()).unwrap();
        use std::io::Write;
        File::from(out).write_all(b"a").unwrap();
        File::from(err).write_all(b"b").unwrap();
        assert_eq!(std::fs::read_to_string(log).unwrap(), "ab");
    }
}
