//! Helpers for tests that run containers: a busybox root filesystem, a
//! one-layer OCI image of it, the two shims, and checks that nothing (shim,
//! mount, cgroup) is left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::bins::crated_bin;
use crate::cmd::{Cmd, signal_pid};
use crate::daemon::Daemon;
use crate::util::{sha256_digest, wait_until};

/// containerd's Go shim (Debian package `containerd`).
pub const GO_SHIM: &str = "/usr/bin/containerd-shim-runc-v2";

/// Builds a busybox root filesystem at `root` from `/bin/busybox` (Debian's
/// `busybox-static`): the binary and a link per applet in `/bin`, the usual
/// empty directories, and an `/etc/passwd` and `/etc/group` with `root` and
/// `app` (1000:1000, also in group `staff`, 50).
#[track_caller]
pub fn build_rootfs(root: &Path) {
    assert!(
        Path::new("/bin/busybox").is_file(),
        "/bin/busybox not found: install busybox-static (scripts/install-deps.sh)"
    );
    for dir in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "run",
    ] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("copying /bin/busybox: {e}"));
    let list = Cmd::new("/bin/busybox").args(["--list"]).run().ok();
    for applet in list.lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(&applet))
                .unwrap_or_else(|e| panic!("symlink {applet}: {e}"));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap_or_else(|e| panic!("writing etc/passwd: {e}"));
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    )
    .unwrap_or_else(|e| panic!("writing etc/group: {e}"));
}

/// A busybox root filesystem in a temporary directory (removed on drop).
pub struct BusyboxRootfs {
    dir: TempDir,
}

impl BusyboxRootfs {
    /// Builds it with [`build_rootfs`].
    #[track_caller]
    pub fn new() -> BusyboxRootfs {
        let dir = tempfile::Builder::new()
            .prefix("crated-e2e-rootfs.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        build_rootfs(&dir.path().join("rootfs"));
        BusyboxRootfs { dir }
    }

    /// The root filesystem directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The root filesystem directory as a string (for command lines).
    pub fn arg(&self) -> String {
        self.path().display().to_string()
    }

    /// Tars this root filesystem into `dest` (an uncompressed layer) and
    /// returns the layer's bytes. Uses `tar`.
    #[track_caller]
    pub fn layer_tar(&self, dest: &Path) -> Vec<u8> {
        Cmd::new("tar")
            .args(["-C"])
            .args([self.path()])
            .args(["-cf"])
            .args([dest])
            .args(["."])
            .run()
            .ok();
        std::fs::read(dest).unwrap_or_else(|e| panic!("reading layer {}: {e}", dest.display()))
    }

    /// Writes a one-layer OCI image layout tar of this root filesystem named
    /// `name` (e.g. `docker.io/library/e2e-busybox:latest`), next to the
    /// root filesystem, and returns its path. Uses `tar` and `gzip`.
    #[track_caller]
    pub fn oci_image_tar(&self, name: &str) -> PathBuf {
        self.oci_image_tar_with(
            name,
            serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}),
        )
    }

    /// Like [`BusyboxRootfs::oci_image_tar`], for a stand-in pause image:
    /// its entrypoint sleeps until SIGTERM or SIGINT ends it, as a pod's
    /// pause process does.
    #[track_caller]
    pub fn pause_image_tar(&self, name: &str) -> PathBuf {
        self.oci_image_tar_with(
            name,
            serde_json::json!({
                "Entrypoint": ["/bin/sh", "-c",
                    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"],
                "Env": ["PATH=/bin"],
            }),
        )
    }

    /// Like [`BusyboxRootfs::oci_image_tar`] with the image config's
    /// `config` object given (entrypoint, cmd, env, …).
    #[track_caller]
    pub fn oci_image_tar_with(&self, name: &str, config: serde_json::Value) -> PathBuf {
        let work = self.dir.path();
        let layer_tar = work.join("layer.tar");
        let layer = self.layer_tar(&layer_tar);
        let diff_id = sha256_digest(&layer);
        let gz = Cmd::new("gzip")
            .args(["-n", "-c"])
            .args([&layer_tar])
            .run()
            .ok()
            .stdout_bytes;
        let blobs = work.join("oci/blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("mkdir blobs: {e}"));
        let put = |data: &[u8]| -> String {
            let digest = sha256_digest(data);
            let hex = digest.trim_start_matches("sha256:");
            std::fs::write(blobs.join(hex), data).unwrap_or_else(|e| panic!("writing blob: {e}"));
            digest
        };
        let gz_digest = put(&gz);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        })
        .to_string();
        let config_digest = put(config.as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": gz_digest,
                "size": gz.len(),
            }],
        })
        .to_string();
        let manifest_digest = put(manifest.as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "annotations": {"io.containerd.image.name": name},
            }],
        })
        .to_string();
        std::fs::write(work.join("oci/index.json"), index)
            .unwrap_or_else(|e| panic!("writing index.json: {e}"));
        std::fs::write(
            work.join("oci/oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap_or_else(|e| panic!("writing oci-layout: {e}"));
        let tar = work.join(format!(
            "image-{}.tar",
            sha256_digest(name.as_bytes())
                .trim_start_matches("sha256:")
                .get(..12)
                .unwrap_or("0")
        ));
        Cmd::new("tar")
            .args(["-C"])
            .args([work.join("oci")])
            .args(["-cf"])
            .args([&tar])
            .args(["oci-layout", "index.json", "blobs"])
            .run()
            .ok();
        tar
    }
}

impl Default for BusyboxRootfs {
    fn default() -> Self {
        Self::new()
    }
}

/// Which shim runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shim {
    /// Ours, `containerd-shim-crated-v1`: crated's default for
    /// `io.containerd.runc.v2`.
    Crated,
    /// containerd's Go shim, selected per container with
    /// `--runtime /usr/bin/containerd-shim-runc-v2`.
    Go,
}

impl Shim {
    /// Both shims.
    pub const ALL: [Shim; 2] = [Shim::Crated, Shim::Go];

    /// A short name for ids and messages.
    pub fn name(self) -> &'static str {
        match self {
            Shim::Crated => "crated",
            Shim::Go => "go",
        }
    }

    /// The `ctr run` / `cratectl run` flags selecting this shim.
    pub fn run_flags(self) -> Vec<String> {
        match self {
            Shim::Crated => Vec::new(),
            Shim::Go => vec!["--runtime".to_string(), GO_SHIM.to_string()],
        }
    }

    /// The shim binary; asserts it exists (ours next to crated).
    #[track_caller]
    pub fn binary(self) -> PathBuf {
        let path = match self {
            Shim::Crated => our_shim_bin(),
            Shim::Go => PathBuf::from(GO_SHIM),
        };
        assert!(
            path.is_file(),
            "shim {} not found at {}",
            self.name(),
            path.display()
        );
        path
    }
}

/// `containerd-shim-crated-v1`, built next to `crated`.
#[track_caller]
pub fn our_shim_bin() -> PathBuf {
    let crated = crated_bin();
    let path = crated
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", crated.display()))
        .join("containerd-shim-crated-v1");
    assert!(
        path.is_file(),
        "containerd-shim-crated-v1 not found next to crated at {}: run `cargo build --workspace`",
        path.display()
    );
    path
}

/// The bundle directory of task `id` in namespace `ns`.
pub fn bundle_dir(daemon: &Daemon, ns: &str, id: &str) -> PathBuf {
    daemon
        .state()
        .join("io.containerd.runtime.v2.task")
        .join(ns)
        .join(id)
}

/// The shim pid of task `id`: the bundle's `shim.pid` (our shim writes
/// it), else the live process started as a shim for this daemon, namespace
/// and id (`-namespace <ns> -id <id> -address <socket>`; Debian's Go shim
/// 1.6 writes no `shim.pid`).
pub fn shim_pid(daemon: &Daemon, ns: &str, id: &str) -> Option<u32> {
    let from_file = std::fs::read_to_string(bundle_dir(daemon, ns, id).join("shim.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    from_file.or_else(|| find_shim_process(&daemon.socket().display().to_string(), ns, id))
}

/// A live process whose command line has `-namespace <ns> -id <id>
/// -address <socket>` (how shims are started).
pub fn find_shim_process(socket: &str, ns: &str, id: &str) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let flag = |name: &str| {
            args.windows(2)
                .find(|w| w[0] == name)
                .map(|w| w[1].as_str())
        };
        if flag("-namespace") == Some(ns)
            && flag("-id") == Some(id)
            && flag("-address") == Some(socket)
            && !args.iter().any(|a| a == "start" || a == "delete")
            && pid_alive(pid)
        {
            return Some(pid);
        }
    }
    None
}

/// The shim pid of task `id`, waiting up to 5 s for `shim.pid`; fails the
/// test if it never shows up.
#[track_caller]
pub fn expect_shim_pid(daemon: &Daemon, ns: &str, id: &str) -> u32 {
    let mut pid = None;
    wait_until(Duration::from_secs(5), || {
        pid = shim_pid(daemon, ns, id);
        pid.is_some()
    });
    pid.unwrap_or_else(|| {
        panic!(
            "no shim.pid in {} and no shim process for it",
            bundle_dir(daemon, ns, id).display()
        )
    })
}

/// Whether `pid` is a live process (not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Waits up to `timeout` for every pid in `pids` to be gone; returns the
/// ones still alive.
pub fn wait_pids_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    wait_until(timeout, || pids.iter().all(|&p| !pid_alive(p)));
    pids.iter().copied().filter(|&p| pid_alive(p)).collect()
}

/// The mount points (from `/proc/self/mountinfo`) under any of `dirs`.
pub fn mounts_under(dirs: &[PathBuf]) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mp| dirs.iter().any(|d| Path::new(mp).starts_with(d)))
        .map(str::to_string)
        .collect()
}

/// The cgroup directories (v1 controllers, the unified hierarchy, or a pure
/// v2 mount) at `cgroups_path` (e.g. `/default/<id>`, as crated's and ctr's
/// specs set it) that exist.
pub fn cgroups_at(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let mut found = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    if base.join(rel).is_dir() {
        found.push(base.join(rel));
    }
    if let Ok(entries) = std::fs::read_dir(base) {
        for entry in entries.flatten() {
            let dir = entry.path().join(rel);
            if dir.is_dir() {
                found.push(dir);
            }
        }
    }
    found
}

/// The `linux.cgroupsPath` of the bundle's `config.json` of task `id`.
pub fn bundle_cgroups_path(daemon: &Daemon, ns: &str, id: &str) -> Option<String> {
    let text = std::fs::read(bundle_dir(daemon, ns, id).join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
    spec.pointer("/linux/cgroupsPath")?
        .as_str()
        .map(str::to_string)
}

/// `ctr -n <ns> tasks ls` as (id, pid, status).
#[track_caller]
pub fn ctr_tasks(daemon: &Daemon, ns: &str) -> Vec<(String, u32, String)> {
    daemon
        .ctr(&["-n", ns, "tasks", "ls"])
        .ok()
        .lines()
        .into_iter()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            Some((
                cols.next()?.to_string(),
                cols.next()?.parse().ok()?,
                cols.next()?.to_string(),
            ))
        })
        .collect()
}

/// The status `ctr tasks ls` shows for `id` (None if not listed).
#[track_caller]
pub fn ctr_task_status(daemon: &Daemon, ns: &str, id: &str) -> Option<String> {
    ctr_tasks(daemon, ns)
        .into_iter()
        .find(|(t, _, _)| t == id)
        .map(|(_, _, s)| s)
}

/// The ids `ctr -n <ns> containers ls -q` lists.
#[track_caller]
pub fn ctr_containers(daemon: &Daemon, ns: &str) -> Vec<String> {
    daemon
        .ctr(&["-n", ns, "containers", "ls", "-q"])
        .ok()
        .lines()
}

/// Best-effort cleanup of containers on drop, bounded in time and never
/// panicking: kills their tasks (SIGKILL), deletes tasks and containers
/// with `ctr` (each under `timeout 15`), then SIGKILLs any shim pid
/// recorded with [`Cleanup::shim`] that is still alive.
pub struct Cleanup {
    socket: PathBuf,
    ns: String,
    ids: Vec<String>,
    shims: Vec<u32>,
}

impl Cleanup {
    /// Cleans up containers of `daemon` in `ns`.
    pub fn new(daemon: &Daemon, ns: &str) -> Cleanup {
        Cleanup {
            socket: daemon.socket(),
            ns: ns.to_string(),
            ids: Vec::new(),
            shims: Vec::new(),
        }
    }

    /// Registers a container id to clean up.
    pub fn add(&mut self, id: impl Into<String>) {
        self.ids.push(id.into());
    }

    /// Registers a shim pid to kill if it outlives the cleanup.
    pub fn shim(&mut self, pid: u32) {
        self.shims.push(pid);
    }

    fn ctr(&self, args: &[&str]) {
        let _ = Command::new("timeout")
            .arg("15")
            .arg(crate::bins::ctr_bin())
            .arg("-a")
            .arg(&self.socket)
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.socket.exists() {
            for id in &self.ids {
                self.ctr(&["tasks", "kill", "-a", "-s", "KILL", id]);
            }
            for id in &self.ids {
                self.ctr(&["tasks", "rm", "-f", id]);
                self.ctr(&["containers", "rm", id]);
            }
        }
        for &pid in &self.shims {
            if pid_alive(pid) {
                signal_pid(pid, Signal::SIGKILL);
            }
        }
    }
}

/// `ctr run -d <flags> --rootfs <rootfs> <id> /bin/sleep 300` as a [`Cmd`]
/// (bounded to 120 s) to run or spawn: a long-lived task for tests that
/// need one.
pub fn ctr_run_sleeper(daemon: &Daemon, rootfs: &BusyboxRootfs, id: &str, flags: &[&str]) -> Cmd {
    let mut args: Vec<String> = vec!["run".into(), "-d".into()];
    args.extend(flags.iter().map(|f| f.to_string()));
    args.extend(["--rootfs", &rootfs.arg(), id, "/bin/sleep", "300"].map(String::from));
    daemon.ctr_cmd(&args).timeout(Duration::from_secs(120))
}

/// Imports `rootfs` as the one-layer image `name` with `cratectl images
/// import` (bounded to 60 s).
#[track_caller]
pub fn import_image(daemon: &Daemon, rootfs: &BusyboxRootfs, name: &str) {
    let tar = rootfs.oci_image_tar(name);
    daemon
        .cratectl_cmd(&["images", "import"])
        .args([&tar])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
}
