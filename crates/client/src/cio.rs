//! Process IO over FIFOs, as containerd's `cio` package does it: the client
//! creates named pipes in a fresh directory, hands their paths to the task
//! (the shim opens the other ends), and copies between them and the
//! caller's streams on threads of its own.
//!
//! Opening a FIFO blocks until the other side opens it; every open happens
//! on the copying thread, and [`Io::cancel`] unblocks a thread still
//! waiting (by opening the other side itself) when the task never came.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::tasks::{Process, Stdio};

/// Where cratectl creates FIFO directories by default (containerd's is
/// `/run/containerd/fifo`).
pub const DEFAULT_FIFO_DIR: &str = "/run/crated/fifo";

/// The FIFOs of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FifoSet {
    /// The directory created for them; removed with them. `None` for FIFOs
    /// loaded from a task, whose directory is removed only when empty.
    pub dir: Option<PathBuf>,
    /// The stdin FIFO.
    pub stdin: Option<PathBuf>,
    /// The stdout FIFO.
    pub stdout: Option<PathBuf>,
    /// The stderr FIFO (none with a terminal).
    pub stderr: Option<PathBuf>,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

fn mkfifo(path: &Path) -> Result<()> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o700)).map_err(|e| Error::Io {
        context: format!("creating FIFO {}", path.display()),
        source: e.into(),
    })
}

impl FifoSet {
    /// Creates a new directory under `root` and in it the FIFOs
    /// `<id>-stdin`, `<id>-stdout` and (without a terminal) `<id>-stderr`,
    /// as containerd's `cio.NewFIFOSetInDir` does.
    pub fn create(root: &Path, id: &str, stdin: bool, terminal: bool) -> Result<FifoSet> {
        std::fs::create_dir_all(root).map_err(io_error(format!(
            "creating FIFO directory {}",
            root.display()
        )))?;
        let dir = tempfile::Builder::new()
            .prefix("")
            .tempdir_in(root)
            .map_err(io_error(format!(
                "creating a directory in {}",
                root.display()
            )))?
            .keep();
        let fifo = |suffix: &str| -> Result<PathBuf> {
            let path = dir.join(format!("{id}-{suffix}"));
            mkfifo(&path)?;
            Ok(path)
        };
        let made = (|| -> Result<FifoSet> {
            Ok(FifoSet {
                dir: Some(dir.clone()),
                stdin: if stdin { Some(fifo("stdin")?) } else { None },
                stdout: Some(fifo("stdout")?),
                stderr: if terminal {
                    None
                } else {
                    Some(fifo("stderr")?)
                },
                terminal,
            })
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    /// The FIFOs a task's process was created with (containerd's
    /// `loadFifos`), for attaching to them or cleaning them up.
    pub fn from_process(process: &Process) -> FifoSet {
        let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
        FifoSet {
            dir: None,
            stdin: path(&process.stdin),
            stdout: path(&process.stdout),
            stderr: path(&process.stderr),
            terminal: process.terminal,
        }
    }

    /// The paths as a task's stdio.
    pub fn stdio(&self) -> Stdio {
        let text = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        Stdio {
            stdin: text(&self.stdin),
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            terminal: self.terminal,
        }
    }

    /// Removes the FIFOs and their directory: the whole directory when this
    /// set created it, else only FIFOs and then the directories if empty.
    pub fn remove(&self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let mut dirs = Vec::new();
        for path in [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
        {
            let is_fifo = std::fs::symlink_metadata(path)
                .map(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
                .unwrap_or(false);
            if is_fifo {
                let _ = std::fs::remove_file(path);
                if let Some(parent) = path.parent() {
                    dirs.push(parent.to_path_buf());
                }
            }
        }
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A boxed reader for a process's stdin.
pub type Input = Box<dyn Read + Send>;
/// A boxed writer for a process's stdout or stderr.
pub type Output = Box<dyn Write + Send>;

/// The caller's side of a process's IO.
#[derive(Default)]
pub struct Streams {
    /// Copied into the process's stdin; `None` for no stdin.
    pub stdin: Option<Input>,
    /// Receives the process's stdout (with a terminal, all of its output).
    pub stdout: Option<Output>,
    /// Receives the process's stderr.
    pub stderr: Option<Output>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish()
    }
}

impl Streams {
    /// This process's stdin, stdout and stderr (`cio.WithStdio`).
    pub fn stdio() -> Streams {
        Streams {
            stdin: Some(Box::new(std::io::stdin())),
            stdout: Some(Box::new(std::io::stdout())),
            stderr: Some(Box::new(std::io::stderr())),
        }
    }

    /// This process's stdout and stderr, no stdin.
    pub fn output_only() -> Streams {
        Streams {
            stdin: None,
            ..Streams::stdio()
        }
    }
}

/// Copying between a [`FifoSet`] and [`Streams`], until the process's
/// output ends.
#[derive(Debug)]
pub struct Io {
    fifos: FifoSet,
    outputs: Vec<JoinHandle<()>>,
    stdin_eof: Option<oneshot::Receiver<()>>,
}

/// Opens `path` for reading, blocking until a writer opens it.
fn open_read(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Opens `path` for writing, blocking until a reader opens it.
fn open_write(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).open(path)
}

impl Io {
    /// Starts copying: the process's stdout and stderr FIFOs to `streams`'
    /// writers, `streams.stdin` to the stdin FIFO. When the caller's stdin
    /// ends, the stdin FIFO is closed and [`Io::stdin_eof`] fires, so the
    /// caller can close the process's stdin (containerd's `CloseIO`).
    pub fn start(fifos: FifoSet, streams: Streams) -> Io {
        let mut outputs = Vec::new();
        let pairs = [
            (fifos.stdout.clone(), streams.stdout),
            (fifos.stderr.clone(), streams.stderr),
        ];
        for (path, writer) in pairs {
            let (Some(path), Some(mut writer)) = (path, writer) else {
                continue;
            };
            outputs.push(std::thread::spawn(move || {
                let Ok(mut fifo) = open_read(&path) else {
                    return;
                };
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match fifo.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if writer.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            let _ = writer.flush();
                        }
                        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let _ = writer.flush();
            }));
        }
        let mut stdin_eof = None;
        if let (Some(path), Some(mut reader)) = (fifos.stdin.clone(), streams.stdin) {
            let (tx, rx) = oneshot::channel();
            stdin_eof = Some(rx);
            // Detached: reading the caller's stdin may block for as long as
            // the caller lives.
            std::thread::spawn(move || {
                let Ok(mut fifo) = open_write(&path) else {
                    return;
                };
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if fifo.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                drop(fifo);
                let _ = tx.send(());
            });
        }
        Io {
            fifos,
            outputs,
            stdin_eof,
        }
    }

    /// The FIFOs.
    pub fn fifos(&self) -> &FifoSet {
        &self.fifos
    }

    /// Fires when the caller's stdin has ended and the stdin FIFO was
    /// closed (once; `None` afterwards or without stdin).
    pub fn stdin_eof(&mut self) -> Option<oneshot::Receiver<()>> {
        self.stdin_eof.take()
    }

    /// Waits up to `timeout` for the output to be copied to its end.
    /// Returns whether it was.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.outputs.iter().any(|h| !h.is_finished()) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for handle in self.outputs.drain(..) {
            let _ = handle.join();
        }
        true
    }

    /// Unblocks copying threads still waiting for the process to open its
    /// side (e.g. when creating the task failed): output readers then see
    /// the end of their FIFO, a stdin writer a closed pipe.
    pub fn cancel(&self) {
        for path in [&self.fifos.stdout, &self.fifos.stderr]
            .into_iter()
            .flatten()
        {
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
        }
        if let Some(path) = &self.fifos.stdin {
            let _ = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
        }
    }

    /// Cancels what is still pending, waits briefly for the output, and
    /// removes the FIFOs.
    pub fn close(mut self) {
        self.cancel();
        self.wait(Duration::from_secs(1));
        self.fifos.remove();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            self.0
                .lock()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        }
    }

    #[test]
    fn copies_both_ways_and_cleans_up() {
        let Ok(root) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let Ok(fifos) = FifoSet::create(root.path(), "c1", true, false) else {
            panic!("create");
        };
        let stdio = fifos.stdio();
        assert!(stdio.stdin.ends_with("/c1-stdin"), "{stdio:?}");
        assert!(stdio.stderr.ends_with("/c1-stderr"), "{stdio:?}");
        let out = Shared::default();
        let err = Shared::default();
        let mut io = Io::start(
            fifos.clone(),
            Streams {
                stdin: Some(Box::new(std::io::Cursor::new(b"ping\n".to_vec()))),
                stdout: Some(Box::new(out.clone())),
                stderr: Some(Box::new(err.clone())),
            },
        );
        // Play the shim: read stdin, answer on stdout and stderr.
        let shim = {
            let fifos = fifos.clone();
            std::thread::spawn(move || -> std::io::Result<String> {
                let paths = |p: &Option<PathBuf>| p.clone().unwrap_or_default();
                let mut input = String::new();
                File::open(paths(&fifos.stdin))?.read_to_string(&mut input)?;
                open_write(&paths(&fifos.stdout))?.write_all(b"pong\n")?;
                open_write(&paths(&fifos.stderr))?.write_all(b"oops\n")?;
                Ok(input)
            })
        };
        let input = shim.join().ok().and_then(|r| r.ok());
        assert_eq!(input.as_deref(), Some("ping\n"));
        assert!(io.wait(Duration::from_secs(5)));
        assert_eq!(out.text(), "pong\n");
        assert_eq!(err.text(), "oops\n");
        assert!(io.stdin_eof().is_some());
        let dir = fifos.dir.clone().unwrap_or_default();
        io.close();
        assert!(!dir.exists());
    }

    #[test]
    fn cancel_unblocks_a_task_that_never_came() {
        let Ok(root) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let Ok(fifos) = FifoSet::create(root.path(), "c2", true, true) else {
            panic!("create");
        };
        assert!(fifos.stderr.is_none());
        let mut io = Io::start(
            fifos,
            Streams {
                stdin: Some(Box::new(std::io::Cursor::new(Vec::new()))),
                stdout: Some(Box::new(Shared::default())),
                stderr: None,
            },
        );
        assert!(!io.wait(Duration::from_millis(50)));
        io.cancel();
        assert!(io.wait(Duration::from_secs(5)));
        io.close();
    }
}
