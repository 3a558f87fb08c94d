//! A private containerd (Debian's `containerd`) for the shim's
//! compatibility tests: its own root, state and sockets in a temporary
//! directory, a shim of ours first on its `PATH`, a busybox root
//! filesystem, and `ctr` to drive it.
//!
//! Every `ctr` runs under a deadline. Dropping the fixture (or
//! [`Containerd::finish`]) kills the tasks, removes the containers, stops
//! containerd by its pid, kills any shim left (by the pids in the bundles'
//! `shim.pid`) and unmounts what is left under the directory. It never
//! shares containerd's system root, state or sockets.
//!
//! **Needs root** (containerd, runc and mounts).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::cmd::{Cmd, Output, die_with_parent, signal_pid};
use crate::util::wait_until;
use crate::workload::{build_rootfs, pid_alive};

/// The namespace the fixture's `ctr` calls use.
pub const NAMESPACE: &str = "shimtest";
/// The deadline of one `ctr` call.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(30);
/// How long containerd may take to answer `ctr version`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A private containerd with a shim of ours on its `PATH`.
pub struct Containerd {
    /// Everything of this containerd: `bin/`, `rootfs/`, `root/`,
    /// `state/`, sockets, `config.toml`, `containerd.log`.
    pub dir: TempDir,
    /// A busybox root filesystem (see [`build_rootfs`]).
    pub rootfs: PathBuf,
    /// The gRPC socket.
    pub socket: PathBuf,
    /// The shim binary's file name, to recognise its processes.
    shim_name: String,
    daemon: Option<Child>,
}

impl Containerd {
    /// Starts containerd with `shim` linked first on its `PATH` under each
    /// of `shim_names` (e.g. `containerd-shim-crated-v1`, and
    /// `containerd-shim-runc-v2` to stand in for runc's).
    #[track_caller]
    pub fn start(shim: &Path, shim_names: &[&str]) -> Containerd {
        crate::root::require_root("containerd, runc and mounts");
        let dir = tempfile::Builder::new()
            .prefix("crated-shim.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temporary directory in /tmp: {e}"));
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap_or_else(|e| panic!("mkdir {}: {e}", bin.display()));
        for name in shim_names {
            symlink(shim, bin.join(name))
                .unwrap_or_else(|e| panic!("linking {} as {name}: {e}", shim.display()));
        }
        let rootfs = dir.path().join("rootfs");
        build_rootfs(&rootfs);
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n"
            ),
        )
        .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let log_path = dir.path().join("containerd.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("duplicating the log handle: {e}"));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(&config)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        die_with_parent(&mut cmd);
        let daemon = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start containerd (install Debian's containerd): {e}")
        });
        let shim_name = shim
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let c = Containerd {
            dir,
            rootfs,
            socket,
            shim_name,
            daemon: Some(daemon),
        };
        let up = wait_until(START_TIMEOUT, || {
            c.ctr_cmd(&["version"])
                .try_run()
                .is_some_and(|out| out.succeeded())
        });
        assert!(up, "containerd did not come up:\n{}", c.log());
        c
    }

    /// `ctr -a <socket> -n shimtest <args>` as a [`Cmd`] (timeout
    /// [`CTR_TIMEOUT`]).
    pub fn ctr_cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(crate::bins::ctr_bin())
            .env_remove("CONTAINERD_NAMESPACE")
            .args(["-a"])
            .args([&self.socket])
            .args(["-n", NAMESPACE])
            .args(args)
            .timeout(CTR_TIMEOUT)
    }

    /// Runs `ctr -a <socket> -n shimtest <args>` to completion.
    #[track_caller]
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_cmd(args).run()
    }

    /// The `ctr` command line as a [`std::process::Command`], to run with
    /// other stdio (a pty, a pipe read as it comes).
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        self.ctr_cmd(args).command()
    }

    /// `ctr run` arguments for the runtime `runtime`, `flags`, the busybox
    /// root filesystem, container `id` and its command.
    pub fn run_args<'a>(
        &'a self,
        runtime: &'a str,
        flags: &[&'a str],
        id: &'a str,
        cmd: &[&'a str],
    ) -> Vec<&'a str> {
        let mut v = vec!["run", "--runtime", runtime];
        v.extend_from_slice(flags);
        v.extend(["--rootfs", self.rootfs_arg(), id]);
        v.extend_from_slice(cmd);
        v
    }

    fn rootfs_arg(&self) -> &str {
        self.rootfs
            .to_str()
            .unwrap_or_else(|| panic!("{} is not UTF-8", self.rootfs.display()))
    }

    /// The runtime state root our shim uses for this containerd's
    /// containers: `<state>/runc/<namespace>`, under this daemon's own
    /// state (never `/run/containerd/runc`).
    pub fn runc_root(&self) -> PathBuf {
        self.dir.path().join("state/runc").join(NAMESPACE)
    }

    /// The bundle of container `id`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .path()
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE)
            .join(id)
    }

    /// The status column of `ctr tasks ls` for `id`.
    #[track_caller]
    pub fn task_status(&self, id: &str) -> Option<String> {
        self.ctr(&["tasks", "ls"])
            .ok()
            .lines()
            .into_iter()
            .skip(1)
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
            })
    }

    /// Waits until `id` reports `status`; fails the test after 10 s.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut now = None;
        let reached = wait_until(Duration::from_secs(10), || {
            now = self.task_status(id);
            now.as_deref() == Some(status)
        });
        assert!(reached, "task {id} is {now:?}, not {status}");
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.path().join("containerd.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Pids of our shims recorded in bundles.
    pub fn shim_pids(&self) -> Vec<u32> {
        let root = self
            .dir
            .path()
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE);
        let Ok(entries) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("shim.pid")).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }

    /// Whether `pid` is alive and one of our shims (not a reused pid).
    pub fn is_our_shim(&self, pid: u32) -> bool {
        pid_alive(pid)
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&self.shim_name))
                .unwrap_or(false)
    }

    /// Cleans up and asserts that no shim outlived its containers.
    #[track_caller]
    pub fn finish(mut self) {
        let alive: Vec<u32> = self
            .cleanup()
            .into_iter()
            .filter(|p| self.is_our_shim(*p))
            .collect();
        assert!(
            alive.is_empty(),
            "shims still running after cleanup: {alive:?}"
        );
    }

    /// Kills tasks, removes containers, stops containerd; returns the shim
    /// pids that were still alive after a grace period (and killed then).
    fn cleanup(&mut self) -> Vec<u32> {
        let Some(mut daemon) = self.daemon.take() else {
            return Vec::new();
        };
        let mut pids = self.shim_pids();
        let list = |what: &str| -> Vec<String> {
            self.ctr_cmd(&[what, "ls", "-q"])
                .try_run()
                .map(|out| out.lines())
                .unwrap_or_default()
        };
        let quietly = |args: &[&str]| {
            let _ = self.ctr_cmd(args).try_run();
        };
        for id in list("tasks") {
            quietly(&["tasks", "kill", "-s", "KILL", &id]);
        }
        for id in list("tasks") {
            quietly(&["tasks", "rm", "-f", &id]);
        }
        for id in list("containers") {
            quietly(&["containers", "rm", &id]);
        }
        pids.extend(self.shim_pids());
        pids.sort_unstable();
        pids.dedup();
        // Shims exit on their own once their containers are gone.
        wait_until(Duration::from_secs(5), || {
            !pids.iter().any(|p| self.is_our_shim(*p))
        });
        let leftover: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| self.is_our_shim(*p))
            .collect();
        for &pid in &leftover {
            signal_pid(pid, Signal::SIGKILL);
        }
        signal_pid(daemon.id(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(daemon.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = daemon.kill();
        let _ = daemon.wait();
        unmount_under(self.dir.path());
        // The namespace's parent cgroups and runtime state directory, if
        // empty (runc removes only the containers' own).
        if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in controllers.flatten() {
                let _ = std::fs::remove_dir(c.path().join(NAMESPACE));
            }
        }
        let _ = std::fs::remove_dir(self.runc_root());
        leftover
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
        self.cleanup();
    }
}

/// Lazily unmounts every mount under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}
