//! The harness of cratectl's integration tests: a real `crated` on a
//! temporary root, state and socket whose `io.containerd.runc.v2` runtime
//! is containerd's Go shim (`/usr/bin/containerd-shim-runc-v2`, Debian's
//! `containerd` package), a busybox root filesystem built from
//! `/bin/busybox` (Debian's `busybox-static`), and `cratectl` runs bounded
//! in time.
//!
//! **Needs root** (the daemon, the shim and runc create namespaces,
//! cgroups and mounts).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// How long one cratectl invocation may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// The shim crated runs for `io.containerd.runc.v2` in these tests.
pub const GO_SHIM: &str = "/usr/bin/containerd-shim-runc-v2";

/// The directory with the workspace's binaries: the parent of the test
/// executable's `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("test executable has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// `crated`, built next to the tests (`cargo build -p crated`).
pub fn crated_bin() -> PathBuf {
    let path = std::env::var_os("CRATED_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_dir().join("crated"));
    assert!(
        path.is_file(),
        "crated not found at {}: build it first (cargo build -p crated) or set CRATED_BIN",
        path.display()
    );
    path
}

/// `cratectl`, this package's binary.
pub fn cratectl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cratectl"))
}

/// Fails the test early, and clearly, when it cannot run here.
pub fn require_root_and_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it starts crated, containerd's runc shim and runc"
    );
    for tool in [GO_SHIM, "/bin/busybox"] {
        assert!(
            Path::new(tool).is_file(),
            "{tool} is missing (install Debian's containerd and busybox-static)"
        );
    }
}

/// What a finished command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "{} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            !self.status.success(),
            "{} succeeded but should have failed\n--- stdout ---\n{}",
            self.command,
            self.stdout
        );
        self
    }
}

/// Waits for `child` at most `timeout`; kills it (by its pid) after that.
pub fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Runs `cmd` with no stdin (or `stdin`), capturing its output, bounded by
/// [`COMMAND_TIMEOUT`].
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    let command = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        });
    }
    let mut stdout_pipe = child.stdout.take().expect("stdout pipe");
    let mut stderr_pipe = child.stderr.take().expect("stderr pipe");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, COMMAND_TIMEOUT, &command);
    Output {
        command,
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A running crated in its own temporary directory. Dropping it removes
/// every task (SIGKILL) and container it has, stops the daemon by its pid
/// and removes the directory.
pub struct Daemon {
    dir: TempDir,
    child: Option<Child>,
}

impl Daemon {
    /// Starts crated with containerd's Go shim for `io.containerd.runc.v2`.
    pub fn start() -> Daemon {
        require_root_and_tools();
        let dir = tempfile::Builder::new()
            .prefix("cratectl-test-")
            .tempdir_in("/tmp")
            .expect("temporary directory");
        let path = dir.path();
        let config = format!(
            r#"version = 3
root = "{root}"
state = "{state}"

[grpc]
address = "{sock}"

[plugins."io.containerd.gc.v1.scheduler"]
startup_delay = "24h"
deletion_threshold = 1000000000
mutation_threshold = 0

[plugins."io.containerd.runtime.v2.task".runtime_paths]
"io.containerd.runc.v2" = "{shim}"
"#,
            root = path.join("root").display(),
            state = path.join("state").display(),
            sock = path.join("crated.sock").display(),
            shim = GO_SHIM,
        );
        std::fs::write(path.join("config.toml"), config).expect("write config");
        std::fs::create_dir_all(path.join("fifo")).expect("fifo dir");
        let log = std::fs::File::create(path.join("crated.log")).expect("log file");
        let mut cmd = Command::new(crated_bin());
        cmd.arg("-c")
            .arg(path.join("config.toml"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = cmd.spawn().expect("start crated");
        let mut daemon = Daemon {
            dir,
            child: Some(child),
        };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("crated exited with {status}\n--- log ---\n{}", self.log());
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "crated did not serve within {START_TIMEOUT:?}\n--- log ---\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir().join("crated.sock")
    }

    /// The FIFO directory tests pass with `--fifo-dir`.
    pub fn fifo_dir(&self) -> PathBuf {
        self.dir().join("fifo")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("crated.log")).unwrap_or_default()
    }

    /// A `cratectl -a <socket> <args>` command.
    pub fn cratectl_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(cratectl_bin());
        cmd.env("NO_COLOR", "1")
            .env_remove("CONTAINERD_NAMESPACE")
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .arg("-a")
            .arg(self.socket())
            .args(args);
        cmd
    }

    /// Runs cratectl to completion.
    pub fn cratectl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_command(self.cratectl_cmd(args), None)
    }

    /// Runs cratectl with `stdin` as its input.
    pub fn cratectl_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> Output {
        run_command(self.cratectl_cmd(args), Some(stdin))
    }

    /// The ids `cratectl <what> ls -q` prints.
    pub fn ids(&self, what: &str) -> Vec<String> {
        self.cratectl(&[what, "ls", "-q"])
            .ok()
            .stdout
            .lines()
            .map(String::from)
            .collect()
    }

    /// Builds a busybox root filesystem in the daemon's directory.
    pub fn rootfs(&self, name: &str) -> PathBuf {
        let root = self.dir().join(name);
        build_rootfs(&root);
        root
    }

    fn cleanup(&self) {
        for id in self.ids("tasks") {
            let _ = self.cratectl(&["tasks", "kill", "-s", "KILL", "--all", &id]);
            let _ = self.cratectl(&["tasks", "rm", "-f", &id]);
        }
        for id in self.ids("containers") {
            let _ = self.cratectl(&["containers", "rm", &id]);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- crated log ---\n{}", self.log());
        }
        if self.child.is_some() {
            self.cleanup();
        }
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A root filesystem of busybox: `/bin/busybox` and a link per applet,
/// the usual empty directories, and an `/etc/passwd` and `/etc/group` with
/// root and `app` (1000:1000, also in group `staff`, 50).
pub fn build_rootfs(root: &Path) {
    for dir in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "run",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    )
    .expect("group");
}

/// Polls `f` every 20 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
pub mod fixtures;
pub mod pki;
