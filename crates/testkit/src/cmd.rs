//! Running external commands with a timeout, and asserting on their output.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a command may run before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes the kernel SIGKILL the child when the thread that spawned it dies,
/// so a test killed by its runner (timeout) leaves no daemon behind.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only makes the
    // async-signal-safe prctl(2) system call; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// Sends `signal` to process `pid` (ignoring a process that already exited).
pub fn signal_pid(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else {
        panic!("pid {pid} out of range");
    };
    let _ = kill(Pid::from_raw(raw), signal);
}

fn render(program: &OsStr, args: &[OsString]) -> String {
    let mut s = program.to_string_lossy().into_owned();
    for a in args {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains([' ', '\'', '"', '|', '&', ';', '$', '*', '=']) {
            s.push('\'');
            s.push_str(&a.replace('\'', r"'\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

enum Input {
    Null,
    Bytes(Vec<u8>),
    File(File),
}

/// Why [`Cmd::execute`] gave no output: the command did not start, or it
/// ran past its timeout (with what it printed until it was killed).
enum Failure {
    Spawn(String, std::io::Error),
    Timeout(Output, Duration),
}

/// A command to run with a timeout: a thin builder over
/// [`std::process::Command`].
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    removed_envs: Vec<OsString>,
    input: Input,
    timeout: Duration,
}

impl Cmd {
    /// A command running `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            envs: Vec::new(),
            removed_envs: Vec::new(),
            input: Input::Null,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Removes an environment variable the test runner may have set (e.g.
    /// `CONTAINERD_NAMESPACE`) from the command's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.removed_envs.push(key.as_ref().to_os_string());
        self
    }

    /// Feeds `bytes` on stdin (then closes it).
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Input::Bytes(bytes.into());
        self
    }

    /// Connects stdin to the file at `path` (seekable, unlike a pipe).
    pub fn stdin_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let file = File::open(path)
            .unwrap_or_else(|e| panic!("cannot open {} for stdin: {e}", path.display()));
        self.input = Input::File(file);
        self
    }

    /// Changes the timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line, shell-quoted, for messages.
    pub fn cmdline(&self) -> String {
        render(&self.program, &self.args)
    }

    /// The [`std::process::Command`] this runs (program, arguments and
    /// environment; it dies with the test), for a test that needs its own
    /// stdio, e.g. a pty. Run it under [`wait_bounded`].
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for k in &self.removed_envs {
            cmd.env_remove(k);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        die_with_parent(&mut cmd);
        cmd
    }

    /// Runs the command to completion, failing the test if it does not
    /// finish within the timeout (it is then killed by its pid).
    #[track_caller]
    pub fn run(self) -> Output {
        match self.execute() {
            Ok(output) => output,
            Err(Failure::Spawn(cmdline, e)) => panic!("cannot run `{cmdline}`: {e}"),
            Err(Failure::Timeout(partial, timeout)) => panic!(
                "`{}` did not finish within {timeout:?}; killed it.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                partial.cmdline,
                partial.stdout(),
                partial.stderr,
            ),
        }
    }

    /// Runs the command to completion without ever failing the test: `None`
    /// if it cannot start or does not finish within the timeout (it is then
    /// killed by its pid). For best-effort cleanup in `Drop`.
    pub fn try_run(self) -> Option<Output> {
        self.execute().ok()
    }

    fn execute(self) -> Result<Output, Failure> {
        let cmdline = self.cmdline();
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut feed = None;
        match self.input {
            Input::Null => {
                cmd.stdin(Stdio::null());
            }
            Input::Bytes(bytes) => {
                cmd.stdin(Stdio::piped());
                feed = Some(bytes);
            }
            Input::File(file) => {
                cmd.stdin(Stdio::from(file));
            }
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Err(Failure::Spawn(cmdline, e)),
        };
        let writer = feed.and_then(|bytes| {
            let mut stdin = child.stdin.take()?;
            // A child that exits early makes this fail with EPIPE; the exit
            // status tells the story, so the write error is ignored.
            Some(std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            }))
        });
        let stdout = Collector::start(child.stdout.take());
        let stderr = Collector::start(child.stderr.take());
        let deadline = Instant::now() + self.timeout;
        let (status, timed_out) = loop {
            match child.try_wait() {
                Ok(Some(status)) => break (status, false),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    let _ = child.kill();
                    match child.wait() {
                        Ok(status) => break (status, true),
                        Err(e) => return Err(Failure::Spawn(cmdline, e)),
                    }
                }
            }
        };
        if timed_out {
            // What it printed so far: a grandchild may still hold the pipes,
            // so the readers are not waited for.
            return Err(Failure::Timeout(
                Output {
                    cmdline,
                    status,
                    stdout_bytes: stdout.snapshot(),
                    stderr: String::from_utf8_lossy(&stderr.snapshot()).into_owned(),
                },
                self.timeout,
            ));
        }
        if let Some(w) = writer {
            let _ = w.join();
        }
        Ok(Output {
            cmdline,
            status,
            stdout_bytes: stdout.finish(),
            stderr: String::from_utf8_lossy(&stderr.finish()).into_owned(),
        })
    }

    /// Starts the command in the background with stdin piped, collecting its
    /// output as it comes.
    pub fn spawn(self) -> Background {
        let cmdline = self.cmdline();
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut feed = None;
        match self.input {
            Input::File(file) => cmd.stdin(Stdio::from(file)),
            Input::Null => cmd.stdin(Stdio::piped()),
            Input::Bytes(bytes) => {
                feed = Some(bytes);
                cmd.stdin(Stdio::piped())
            }
        };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"));
        let stdout = Collector::start(child.stdout.take());
        let stderr = Collector::start(child.stderr.take());
        let mut bg = Background {
            cmdline,
            child,
            stdout,
            stderr,
        };
        if let Some(bytes) = feed {
            bg.write_stdin(&bytes);
        }
        bg
    }
}

/// Reads a pipe to its end on a thread, keeping what it read so far visible.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn start<R: Read + Send + 'static>(pipe: Option<R>) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let thread = pipe.map(|mut pipe| {
            let buf = Arc::clone(&buf);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(&chunk[..n]),
                    }
                }
            })
        });
        Collector { buf, thread }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn finish(mut self) -> Vec<u8> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.snapshot()
    }
}

/// The result of a finished command.
pub struct Output {
    /// The command line that ran.
    pub cmdline: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Raw standard output.
    pub stdout_bytes: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            describe(self.status),
            self.stdout(),
            self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

impl Output {
    /// Standard output, lossily decoded.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout_bytes).into_owned()
    }

    /// Stdout's lines, trimmed of trailing blanks, empty lines dropped.
    pub fn lines(&self) -> Vec<String> {
        self.stdout()
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The exit code (`None` when a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether the command exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status.success()
    }

    /// Asserts the command succeeded; on failure prints everything.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "expected success: {self}");
        self
    }

    /// Asserts the command failed with a non-zero exit code (not a signal).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a non-zero exit: {self}"
        );
        self
    }

    /// Asserts stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "expected stdout to contain {needle:?}: {self}"
        );
        self
    }

    /// Asserts stdout does not contain `needle`.
    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout().contains(needle),
            "expected stdout not to contain {needle:?}: {self}"
        );
        self
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}: {self}"
        );
        self
    }

    /// Asserts stderr does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "expected stderr not to contain {needle:?}: {self}"
        );
        self
    }

    /// Parses stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout_bytes)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

/// Waits for `child` (started by the test itself) at most `timeout`; kills
/// it by its pid and fails the test after that. `what` names it in the
/// message.
#[track_caller]
pub fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}; killed it");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Collects the output of `child` (started by the test with piped stdout
/// and stderr) until it exits, at most `timeout`; kills it by its pid and
/// fails the test after that. `what` names it in messages.
#[track_caller]
pub fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    let stdout = Collector::start(child.stdout.take());
    let stderr = Collector::start(child.stderr.take());
    let status = wait_bounded(&mut child, timeout, what);
    Output {
        cmdline: what.to_string(),
        status,
        stdout_bytes: stdout.finish(),
        stderr: String::from_utf8_lossy(&stderr.finish()).into_owned(),
    }
}

/// Writes `input` to the piped stdin of `child` after `delay` on a thread,
/// then keeps stdin open 3 s more (a tty program may read after the input
/// echoes). Join the handle before asserting.
#[track_caller]
pub fn feed_stdin(child: &mut Child, delay: Duration, input: &'static [u8]) -> JoinHandle<()> {
    let Some(mut stdin) = child.stdin.take() else {
        panic!("feed_stdin: the child's stdin is not piped");
    };
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = stdin.write_all(input);
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_secs(3));
    })
}

/// A command running in the background. Dropping it kills the process by
/// its pid.
pub struct Background {
    cmdline: String,
    child: Child,
    stdout: Collector,
    stderr: Collector,
}

impl Background {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line.
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// The stdin pipe, if still open.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Writes `bytes` to stdin (failing the test on error).
    #[track_caller]
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let cmdline = self.cmdline.clone();
        let stdin = self
            .child
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("stdin of `{cmdline}` is closed"));
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to stdin of `{cmdline}`: {e}"));
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// What the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.snapshot()).into_owned()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `pred` holds for stdout (polled); false on timeout.
    pub fn wait_stdout(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        crate::util::wait_until(timeout, || pred(&self.stdout()))
    }

    /// Sends `signal` to the process (by pid).
    pub fn signal(&self, signal: Signal) {
        signal_pid(self.pid(), signal);
    }

    /// Kills the process with SIGKILL (by pid) and reaps it.
    pub fn kill(&mut self) {
        if self.running() {
            self.signal(Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own within `timeout` (closing
    /// stdin first) and returns its output; kills it and fails the test on
    /// timeout.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        self.close_stdin();
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    self.kill();
                    panic!(
                        "`{}` did not exit within {timeout:?}; killed it.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                        self.cmdline,
                        self.stdout(),
                        self.stderr()
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("waiting for `{}`: {e}", self.cmdline),
            }
        };
        self.into_output(status)
    }

    /// Kills the process (by pid) and returns what it printed.
    pub fn kill_and_collect(mut self) -> Output {
        self.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for `{}`: {e}", self.cmdline));
        self.into_output(status)
    }

    fn into_output(mut self, status: ExitStatus) -> Output {
        let stdout = std::mem::replace(&mut self.stdout, Collector::start::<File>(None));
        let stderr = std::mem::replace(&mut self.stderr, Collector::start::<File>(None));
        Output {
            cmdline: self.cmdline.clone(),
            status,
            stdout_bytes: stdout.finish(),
            stderr: String::from_utf8_lossy(&stderr.finish()).into_owned(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}
