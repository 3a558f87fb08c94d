//! A real `crated` on a temporary root, state and socket.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::bins::{cratectl_bin, crated_bin, ctr_bin};
use crate::cmd::{Background, Cmd, Output, die_with_parent, signal_pid};

/// How long the daemon may take to accept connections on its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the daemon may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one `ctr` call of [`Daemon::remove_all_containers`] may take.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or crashed) `crated` with its own temporary directory:
///
/// ```text
/// <dir>/config.toml   version 3; root, state and grpc.address below; the
///                     garbage collector runs only on request (see
///                     [`GC_ON_REQUEST_ONLY`]) unless `with_gc()`
/// <dir>/root/         persistent data
/// <dir>/state/        runtime data
/// <dir>/crated.sock   gRPC socket (ttrpc at crated.sock.ttrpc)
/// <dir>/crated.log    the daemon's stdout and stderr, across restarts
/// <dir>/fifo/         an empty directory for `cratectl run --fifo-dir`
/// ```
///
/// Dropping it stops the daemon by its pid (SIGTERM, then SIGKILL after
/// [`STOP_TIMEOUT`]) and removes the directory, unless `CRATED_E2E_KEEP` is
/// set. If the test is panicking, the daemon log is printed first. With
/// [`DaemonBuilder::clean_up_containers`] it first kills every task and
/// removes every container, in every namespace.
///
/// Needs root: crated chowns its socket and runs as it would in production.
pub struct Daemon {
    dir: Option<TempDir>,
    path: PathBuf,
    root: PathBuf,
    child: Option<Child>,
    clean_up: bool,
}

impl Daemon {
    /// Starts a daemon with the default test configuration.
    #[track_caller]
    pub fn start() -> Daemon {
        Self::builder().start()
    }

    /// Starts a daemon whose configuration is the default test configuration
    /// followed by `extra` (TOML appended verbatim, e.g. plugin sections).
    #[track_caller]
    pub fn start_with_config(extra: &str) -> Daemon {
        Self::builder().config_tail(extra).start()
    }

    /// A builder to adjust the configuration or the directory before the
    /// daemon starts.
    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }

    /// The temporary directory holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.path.join("crated.sock")
    }

    /// The persistent root directory (`<dir>/root` unless
    /// [`DaemonBuilder::root_dir`] chose another).
    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.path.join("state")
    }

    /// The configuration file the daemon runs with.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.toml")
    }

    /// An empty directory for `cratectl run --fifo-dir` (tests check that
    /// no FIFO is left in it).
    pub fn fifo_dir(&self) -> PathBuf {
        self.path.join("fifo")
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("crated.log")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The daemon's pid, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the daemon process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    #[track_caller]
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the daemon is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path().display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate the log file handle: {e}"));
        let mut cmd = Command::new(crated_bin());
        cmd.arg("-c")
            .arg(self.config_path())
            .current_dir(&self.path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", crated_bin().display()));
        self.child = Some(child);
        self.wait_ready();
    }

    #[track_caller]
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "crated exited with {status} before serving on {}\n--- crated log ---\n{}",
                    self.socket().display(),
                    self.log()
                );
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                self.stop_child();
                panic!(
                    "crated did not accept connections on {} within {START_TIMEOUT:?}\n--- crated log ---\n{}",
                    self.socket().display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the daemon with SIGKILL (by pid), as a crash would, and reaps
    /// it. Its files stay; [`Daemon::restart`] starts it again on them.
    #[track_caller]
    pub fn kill9(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("kill9: the daemon is not running");
        };
        signal_pid(child.id(), Signal::SIGKILL);
        let _ = child.wait();
    }

    /// Stops the daemon with SIGTERM (by pid) and asserts it exits cleanly
    /// within [`STOP_TIMEOUT`].
    #[track_caller]
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("stop: the daemon is not running");
        };
        signal_pid(child.id(), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "crated exited with {status} after SIGTERM\n--- crated log ---\n{}",
                        self.log()
                    );
                    return;
                }
                Ok(None) if Instant::now() >= deadline => {
                    signal_pid(child.id(), Signal::SIGKILL);
                    let _ = child.wait();
                    panic!(
                        "crated did not exit within {STOP_TIMEOUT:?} of SIGTERM\n--- crated log ---\n{}",
                        self.log()
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for crated: {e}"),
            }
        }
    }

    /// Starts the daemon again on the same directories; stops it first
    /// (SIGTERM) if it is still running.
    #[track_caller]
    pub fn restart(&mut self) {
        if self.running() {
            self.stop();
        } else if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.spawn();
    }

    /// Stops the daemon without asserting anything: SIGTERM, then SIGKILL.
    fn stop_child(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal_pid(child.id(), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_pid(child.id(), Signal::SIGKILL);
        let _ = child.wait();
    }

    /// `ctr -a <socket> <args>` (containerd's CLI) as a [`Cmd`] to customise.
    pub fn ctr_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd::new(ctr_bin())
            .env_remove("CONTAINERD_NAMESPACE")
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .args([OsStr::new("-a"), self.socket().as_os_str()])
            .args(args)
    }

    /// Runs `ctr -a <socket> <args>` to completion.
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.ctr_cmd(args).run()
    }

    /// Runs `ctr -a <socket> <args>` with `stdin` on its standard input.
    pub fn ctr_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: impl Into<Vec<u8>>) -> Output {
        self.ctr_cmd(args).stdin_bytes(stdin).run()
    }

    /// Starts `ctr -a <socket> <args>` in the background with stdin piped.
    pub fn spawn_ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Background {
        self.ctr_cmd(args).spawn()
    }

    /// `cratectl -a <socket> <args>` as a [`Cmd`] to customise.
    pub fn cratectl_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd::new(cratectl_bin())
            .env("NO_COLOR", "1")
            .env_remove("CONTAINERD_NAMESPACE")
            .env_remove("CONTAINERD_SNAPSHOTTER")
            .args([OsStr::new("-a"), self.socket().as_os_str()])
            .args(args)
    }

    /// Runs `cratectl -a <socket> <args>` to completion.
    pub fn cratectl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cratectl_cmd(args).run()
    }

    /// Runs `cratectl -a <socket> <args>` with `stdin` on its standard input.
    pub fn cratectl_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: impl Into<Vec<u8>>) -> Output {
        self.cratectl_cmd(args).stdin_bytes(stdin).run()
    }

    /// The ids `cratectl <what> ls -q` prints in the default namespace
    /// (`what` is e.g. `containers`, `tasks`, `images`).
    #[track_caller]
    pub fn ids(&self, what: &str) -> Vec<String> {
        self.cratectl(&[what, "ls", "-q"]).ok().lines()
    }

    /// Builds a busybox root filesystem (see
    /// [`build_rootfs`](crate::workload::build_rootfs)) at `<dir>/<name>`.
    #[track_caller]
    pub fn rootfs(&self, name: &str) -> PathBuf {
        let root = self.path.join(name);
        crate::workload::build_rootfs(&root);
        root
    }

    /// Kills every task and removes every task and container in every
    /// namespace, best effort: bounded in time, never failing the test.
    pub fn remove_all_containers(&self) {
        let ctr = |args: &[&str]| -> Vec<String> {
            self.ctr_cmd(args)
                .timeout(CLEANUP_TIMEOUT)
                .try_run()
                .map(|out| out.lines())
                .unwrap_or_default()
        };
        for ns in ctr(&["namespaces", "ls", "-q"]) {
            for id in ctr(&["-n", &ns, "tasks", "ls", "-q"]) {
                ctr(&["-n", &ns, "tasks", "kill", "-a", "-s", "KILL", &id]);
            }
            for id in ctr(&["-n", &ns, "tasks", "ls", "-q"]) {
                ctr(&["-n", &ns, "tasks", "rm", "-f", &id]);
            }
            for id in ctr(&["-n", &ns, "containers", "ls", "-q"]) {
                ctr(&["-n", &ns, "containers", "rm", &id]);
            }
        }
    }

    /// `crated -c <config> <args>` (e.g. `publish`, `config dump`) as a
    /// [`Cmd`] to customise.
    pub fn crated_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd::new(crated_bin())
            .env("NO_COLOR", "1")
            .args([OsStr::new("-c"), self.config_path().as_os_str()])
            .args(args)
    }

    /// Asserts the daemon still answers: it runs and `ctr version` reports
    /// the server.
    #[track_caller]
    pub fn assert_serving(&mut self) {
        assert!(
            self.running(),
            "crated is no longer running\n--- crated log ---\n{}",
            self.log()
        );
        self.ctr(&["version"]).ok().stdout_has("Server:");
    }

    /// Opens a file in the daemon's directory for writing (test fixtures).
    pub fn create_file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Opens a file in the daemon's directory for reading.
    pub fn open_file(&self, name: &str) -> File {
        let path = self.path.join(name);
        File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
    }
}

/// A step run on the daemon's directory before it starts.
type PrepareFn = Box<dyn FnOnce(&Path)>;

/// Builds a [`Daemon`]: `Daemon::builder().config_top("...").start()`.
#[derive(Default)]
pub struct DaemonBuilder {
    gc: bool,
    clean_up: bool,
    root: Option<PathBuf>,
    top: String,
    grpc: String,
    runtime_paths: Vec<(String, PathBuf)>,
    tail: String,
    prepare: Vec<PrepareFn>,
}

/// The garbage collector's config unless [`DaemonBuilder::with_gc`]: it only
/// collects when asked to (`leases rm --sync`). `ctr content ingest` stores
/// blobs without a lease, so they are unreferenced and crated (like
/// containerd) would collect them at startup + 100 ms and after any
/// deletion; tests whose subject is not collection must not race that.
pub const GC_ON_REQUEST_ONLY: &str = r#"[plugins."io.containerd.gc.v1.scheduler"]
startup_delay = "24h"
deletion_threshold = 1000000000
mutation_threshold = 0
"#;

impl DaemonBuilder {
    /// Keeps the garbage collector's production defaults (collect at
    /// startup, after deletions and mutations) instead of
    /// [`GC_ON_REQUEST_ONLY`].
    pub fn with_gc(mut self) -> Self {
        self.gc = true;
        self
    }

    /// Kills every task and removes every container (all namespaces) before
    /// the daemon is stopped on drop, so no shim outlives the test.
    pub fn clean_up_containers(mut self) -> Self {
        self.clean_up = true;
        self
    }

    /// Uses `root` as the daemon's root directory instead of `<dir>/root`
    /// (e.g. on a btrfs mount). The caller removes it.
    pub fn root_dir(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// Runs `runtime` (e.g. `io.containerd.runc.v2`) with the shim binary at
    /// `shim`: `[plugins."io.containerd.runtime.v2.task".runtime_paths]`.
    pub fn runtime_path(mut self, runtime: &str, shim: impl Into<PathBuf>) -> Self {
        self.runtime_paths.push((runtime.to_string(), shim.into()));
        self
    }

    /// TOML for the top level of the config (before any table), e.g.
    /// `disabled_plugins = [...]`.
    pub fn config_top(mut self, toml: &str) -> Self {
        self.top.push_str(toml);
        self.top.push('\n');
        self
    }

    /// TOML added to the `[grpc]` table, e.g. `gid = 1234`.
    pub fn config_grpc(mut self, toml: &str) -> Self {
        self.grpc.push_str(toml);
        self.grpc.push('\n');
        self
    }

    /// TOML appended at the end of the config (more tables).
    pub fn config_tail(mut self, toml: &str) -> Self {
        self.tail.push_str(toml);
        self.tail.push('\n');
        self
    }

    /// Runs `f` on the daemon's (empty) directory before the daemon starts,
    /// e.g. to plant a file where a plugin wants a directory.
    pub fn prepare(mut self, f: impl FnOnce(&Path) + 'static) -> Self {
        self.prepare.push(Box::new(f));
        self
    }

    /// Writes the config and starts the daemon; fails the test if it does not
    /// serve within [`START_TIMEOUT`].
    #[track_caller]
    pub fn start(self) -> Daemon {
        crate::root::require_root("crated chowns its socket and state as in production");
        let dir = tempfile::Builder::new()
            .prefix("crated-e2e.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temporary directory in /tmp: {e}"));
        let path = dir.path().to_path_buf();
        let root = self.root.unwrap_or_else(|| path.join("root"));
        let mut runtime_paths = String::new();
        if !self.runtime_paths.is_empty() {
            runtime_paths.push_str("[plugins.\"io.containerd.runtime.v2.task\".runtime_paths]\n");
            for (runtime, shim) in &self.runtime_paths {
                runtime_paths
                    .push_str(&format!("{runtime:?} = {:?}\n", shim.display().to_string()));
            }
        }
        let config = format!(
            "version = 3\nroot = {root:?}\nstate = {state:?}\n{top}\n[grpc]\naddress = {sock:?}\n{grpc}\n{gc}\n{runtime_paths}\n{tail}",
            root = root.display().to_string(),
            state = path.join("state").display().to_string(),
            sock = path.join("crated.sock").display().to_string(),
            top = self.top,
            grpc = self.grpc,
            tail = self.tail,
            gc = if self.gc { "" } else { GC_ON_REQUEST_ONLY },
        );
        std::fs::write(path.join("config.toml"), config)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.join("config.toml").display()));
        std::fs::create_dir(path.join("fifo"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.join("fifo").display()));
        for f in self.prepare {
            f(&path);
        }
        let mut daemon = Daemon {
            dir: Some(dir),
            path,
            root,
            child: None,
            clean_up: self.clean_up,
        };
        daemon.spawn();
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- crated log ({}) ---\n{}\n--- end of crated log ---",
                self.log_path().display(),
                self.log()
            );
        }
        if self.clean_up && self.running() {
            self.remove_all_containers();
        }
        self.stop_child();
        // What a failed test left mounted (pod netns pins and /dev/shm,
        // rootfs): released, so the directory can go and nothing lingers
        // on the host. Deepest first.
        for mount in crate::workload::mounts_under(std::slice::from_ref(&self.path))
            .iter()
            .rev()
        {
            if let Err(e) = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("unmounting {mount} left by the test: {e}");
            }
        }
        if std::env::var_os("CRATED_E2E_KEEP").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("keeping {}", dir.keep().display());
        }
    }
}
