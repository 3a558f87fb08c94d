//! Debian's containerd 1.6 beside a test crated: its own temporary root,
//! state, sockets and opt directory, no CRI plugin, and its own Go shim
//! (`containerd-shim-runc-v2` from `PATH`).

use std::ffi::OsStr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::bins::ctr_bin;
use crate::cmd::{Cmd, Output, signal_pid};
use crate::service::{read_log, spawn_logged, stop_by_pid, unmount_under, wait_ready};
use crate::workload::{find_shim_process, pid_alive};

/// Debian's containerd.
pub const CONTAINERD_BIN: &str = "/usr/bin/containerd";
/// The runtime state root containerd's Go shim uses whatever containerd's
/// own state directory is; the namespace is appended.
pub const GO_SHIM_RUNC_ROOT: &str = "/run/containerd/runc";
/// How long containerd may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long containerd may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running containerd of its own temporary directory. Dropping it
/// removes the containers registered with [`Containerd::track`] (tasks
/// killed, then deleted), stops containerd by its pid, SIGKILLs shims of
/// those containers that are left, unmounts what is left under its
/// directory, and removes the Go shim's runtime state directory of the
/// namespaces used.
pub struct Containerd {
    dir: TempDir,
    child: Option<Child>,
    tracked: Vec<(String, String)>,
}

impl Containerd {
    /// Starts containerd; fails the test if it does not answer in time.
    #[track_caller]
    pub fn start() -> Containerd {
        assert!(
            Path::new(CONTAINERD_BIN).is_file(),
            "{CONTAINERD_BIN} not found: install Debian's containerd (scripts/install-deps.sh)"
        );
        let dir = tempfile::Builder::new()
            .prefix("crated-e2e-containerd.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temporary directory in /tmp: {e}"));
        let d = dir.path().display().to_string();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config)
            .unwrap_or_else(|e| panic!("writing containerd's config: {e}"));
        let mut cmd = Command::new(CONTAINERD_BIN);
        cmd.arg("--config").arg(dir.path().join("config.toml"));
        let log = dir.path().join("containerd.log");
        let mut child = Some(spawn_logged(cmd, &log));
        let mut containerd = Containerd {
            dir,
            child: None,
            tracked: Vec::new(),
        };
        wait_ready(&mut child, "containerd", &log, START_TIMEOUT, || {
            UnixStream::connect(containerd.socket()).is_ok()
                && containerd.ctr_cmd(&["version"]).run().succeeded()
        });
        containerd.child = child;
        containerd
    }

    /// Its gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("containerd.log"))
    }

    /// Registers container `id` of namespace `ns` for removal on drop.
    pub fn track(&mut self, ns: &str, id: &str) {
        self.tracked.push((ns.to_string(), id.to_string()));
    }

    /// `ctr -a <socket> <args>` as a [`Cmd`] to customise.
    pub fn ctr_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd::new(ctr_bin())
            .args([OsStr::new("-a"), self.socket().as_os_str()])
            .args(args)
    }

    /// Runs `ctr -a <socket> <args>` to completion.
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.ctr_cmd(args).run()
    }

    fn quiet_ctr(&self, args: &[&str]) {
        let _ = Command::new("timeout")
            .arg("15")
            .arg(ctr_bin())
            .arg("-a")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- containerd log ---\n{}\n--- end of containerd log ---",
                self.log()
            );
        }
        let socket = self.socket().display().to_string();
        let shims: Vec<u32> = self
            .tracked
            .iter()
            .filter_map(|(ns, id)| find_shim_process(&socket, ns, id))
            .collect();
        for (ns, id) in &self.tracked {
            self.quiet_ctr(&["-n", ns, "tasks", "kill", "-a", "-s", "KILL", id]);
            self.quiet_ctr(&["-n", ns, "tasks", "rm", "-f", id]);
            self.quiet_ctr(&["-n", ns, "containers", "rm", id]);
        }
        if let Some(child) = self.child.take() {
            stop_by_pid(child, STOP_TIMEOUT);
        }
        for pid in shims {
            if pid_alive(pid) {
                signal_pid(pid, Signal::SIGKILL);
            }
        }
        unmount_under(self.dir.path());
        for (ns, _) in &self.tracked {
            let _ = std::fs::remove_dir(Path::new(GO_SHIM_RUNC_ROOT).join(ns));
        }
    }
}
