//! A private containerd for the end-to-end tests: its own root, state and
//! sockets in a temporary directory, the shim binary first on its `PATH`,
//! a busybox rootfs, and `ctr` to drive it. Every child process runs under
//! a deadline; dropping the fixture kills tasks, removes containers, stops
//! containerd by pid, kills any shim left (by the pids in the bundles'
//! `shim.pid`) and unmounts what is left under the directory.

// Test support: a failed setup step should stop the test loudly.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The runtime name of our shim.
pub const RUNTIME: &str = "io.containerd.crated.v1";
/// The namespace the tests use.
pub const NAMESPACE: &str = "shimtest";
/// The deadline of one `ctr` call.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code (-1 when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Panics with both streams unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "command failed: {self:?}");
        self
    }
}

/// Waits for `child` at most `timeout`, killing it after; collects output.
pub fn wait(mut child: Child, timeout: Duration, what: &str) -> Output {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("waiting for child") {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}");
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Runs `cmd` to completion under `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    wait(child, timeout, &what)
}

/// A private containerd with our shim on its `PATH`.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    pub socket: PathBuf,
    daemon: Option<Child>,
}

impl Containerd {
    /// Starts containerd; `shim_names` are the names under which our shim
    /// binary is put first on its `PATH` (e.g. also `containerd-shim-runc-v2`).
    pub fn start(shim_names: &[&str]) -> Containerd {
        assert!(
            rustix::process::geteuid().is_root(),
            "these tests need root: they run containerd, runc and mounts"
        );
        let dir = tempfile::Builder::new()
            .prefix("crated-shim-")
            .tempdir_in("/tmp")
            .expect("temporary directory");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let shim = env!("CARGO_BIN_EXE_containerd-shim-crated-v1");
        for name in shim_names {
            symlink(shim, bin.join(name)).expect("linking the shim");
        }
        let rootfs = busybox_rootfs(dir.path());
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
        .expect("config");
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("log");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting containerd (is Debian's containerd installed?)");
        let c = Containerd {
            dir,
            rootfs,
            socket,
            daemon: Some(daemon),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not come up:\n{}",
                c.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// `ctr -a <socket> -n shimtest <args>`, under [`CTR_TIMEOUT`].
    pub fn ctr(&self, args: &[&str]) -> Output {
        run(&mut self.ctr_command(args), CTR_TIMEOUT)
    }

    /// The `ctr` command line, to run some other way.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a")
            .arg(&self.socket)
            .args(["-n", NAMESPACE])
            .args(args);
        cmd
    }

    /// `ctr run` arguments for our runtime and the busybox rootfs.
    pub fn run_args<'a>(&'a self, flags: &[&'a str], id: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["run", "--runtime", RUNTIME];
        v.extend_from_slice(flags);
        v.extend(["--rootfs", self.rootfs.to_str().expect("utf-8 path"), id]);
        v.extend_from_slice(cmd);
        v
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
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["tasks", "ls"]).ok();
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
    }

    /// Waits until `id` reports `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.task_status(id);
            if now.as_deref() == Some(status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} is {now:?}, not {status}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
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

    /// Cleans up and checks that no shim outlived its containers.
    pub fn finish(mut self) {
        let pids = self.cleanup();
        let alive: Vec<u32> = pids.into_iter().filter(|p| is_our_shim(*p)).collect();
        assert!(
            alive.is_empty(),
            "shims still running after cleanup: {alive:?}"
        );
    }

    /// Kills tasks, removes containers, stops containerd; returns the shim
    /// pids seen (those still alive after a grace period are killed).
    fn cleanup(&mut self) -> Vec<u32> {
        let Some(mut daemon) = self.daemon.take() else {
            return Vec::new();
        };
        let mut pids = self.shim_pids();
        let list = |what: &str| -> Vec<String> {
            let out = self.ctr(&[what, "ls", "-q"]);
            out.stdout
                .lines()
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect()
        };
        for id in list("tasks") {
            let _ = self.ctr(&["tasks", "kill", "-s", "KILL", &id]);
        }
        for id in list("tasks") {
            let _ = self.ctr(&["tasks", "rm", "-f", &id]);
        }
        for id in list("containers") {
            let _ = self.ctr(&["containers", "rm", &id]);
        }
        pids.extend(self.shim_pids());
        pids.sort_unstable();
        pids.dedup();
        // Shims exit on their own once their containers are gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|p| is_our_shim(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        let leftover: Vec<u32> = pids.iter().copied().filter(|p| is_our_shim(*p)).collect();
        for p in &leftover {
            if let Some(pid) = rustix::process::Pid::from_raw(*p as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if let Some(pid) = rustix::process::Pid::from_raw(daemon.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while daemon.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = daemon.wait();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
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
        self.cleanup();
    }
}

/// Whether `pid` is alive and one of our shims (not a reused pid).
pub fn is_our_shim(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("containerd-shim-crated-v1"))
        .unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// A rootfs with Debian's static busybox and the applets the tests use.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).expect("rootfs");
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("copying /bin/busybox (install busybox-static)");
    for applet in [
        "sh", "echo", "cat", "sleep", "true", "false", "ls", "id", "env", "ps", "head", "tr", "dd",
    ] {
        symlink("busybox", bin.join(applet)).expect("applet link");
    }
    rootfs
}

/// Lazily unmounts every mount under `dir`, deepest first.
fn unmount_under(dir: &Path) {
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
        let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Writes `input` to a child's stdin after `delay`, keeping it open a while.
pub fn feed(child: &mut Child, delay: Duration, input: &'static [u8]) -> thread::JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("piped stdin");
    thread::spawn(move || {
        thread::sleep(delay);
        let _ = stdin.write_all(input);
        let _ = stdin.flush();
        thread::sleep(Duration::from_secs(3));
    })
}
