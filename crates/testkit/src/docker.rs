//! Debian's Docker Engine (`docker.io`, dockerd 20.10) on a test crated:
//! `dockerd --containerd <crated socket>` with private data and exec roots,
//! no bridge and no iptables, driven with Debian's `docker` client.

use std::ffi::OsStr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::cmd::{Cmd, Output};
use crate::daemon::Daemon;
use crate::service::{read_log, spawn_logged, stop_by_pid, unmount_under, wait_ready};
use crate::util::sha256_digest;
use crate::workload::BusyboxRootfs;

/// Debian's dockerd (package `docker.io`).
pub const DOCKERD_BIN: &str = "/usr/sbin/dockerd";
/// Debian's docker client of the same package (not any other `docker` on
/// `PATH`).
pub const DOCKER_BIN: &str = "/usr/bin/docker";
/// How long dockerd may take to answer on its socket.
pub const DOCKERD_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long dockerd may take to exit after SIGTERM before it gets SIGKILL.
pub const DOCKERD_STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// The plugin directory dockerd creates whatever its exec root.
const DOCKER_PLUGINS_DIR: &str = "/run/docker/plugins";

/// A dockerd of its own temporary directory, using a test crated as its
/// containerd:
///
/// ```text
/// <dir>/data/         --data-root (images, layers, container configs)
/// <dir>/exec/         --exec-root (FIFOs, netns)
/// <dir>/docker.sock   -H unix://…
/// <dir>/docker.pid    --pidfile
/// <dir>/daemon.json   an empty --config-file (the host's is not read)
/// <dir>/dockerd.log   its output, across restarts
/// ```
///
/// Dropping it removes every container (`docker rm -f`), stops dockerd by
/// its pid, unmounts whatever it left under its directory and removes the
/// directory.
pub struct Dockerd {
    dir: TempDir,
    containerd: PathBuf,
    live_restore: bool,
    child: Option<Child>,
    /// Whether `/run/docker` was there before (else it is removed on drop).
    had_run_dir: bool,
}

impl Dockerd {
    /// Starts dockerd on `daemon`'s socket; with `live_restore`, containers
    /// keep running while dockerd is down.
    #[track_caller]
    pub fn start(daemon: &Daemon, live_restore: bool) -> Dockerd {
        for bin in [DOCKERD_BIN, DOCKER_BIN] {
            assert!(
                Path::new(bin).is_file(),
                "{bin} not found: install Debian's docker.io (scripts/install-deps.sh)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("crated-e2e-docker.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temporary directory in /tmp: {e}"));
        std::fs::write(dir.path().join("daemon.json"), "{}\n")
            .unwrap_or_else(|e| panic!("writing daemon.json: {e}"));
        let mut dockerd = Dockerd {
            dir,
            containerd: daemon.socket(),
            live_restore,
            child: None,
            had_run_dir: Path::new(DOCKER_PLUGINS_DIR)
                .parent()
                .is_some_and(Path::exists),
        };
        dockerd.spawn();
        dockerd
    }

    /// dockerd's API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// dockerd's log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("dockerd.log")
    }

    #[track_caller]
    fn spawn(&mut self) {
        let d = self.dir.path();
        let mut cmd = Command::new(DOCKERD_BIN);
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--containerd")
            .arg(&self.containerd)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ]);
        if self.live_restore {
            cmd.arg("--live-restore");
        }
        let mut child = Some(spawn_logged(cmd, &self.log_path()));
        wait_ready(
            &mut child,
            "dockerd",
            &self.log_path(),
            DOCKERD_START_TIMEOUT,
            || {
                UnixStream::connect(self.socket()).is_ok()
                    && self.docker_cmd(&["version"]).run().succeeded()
            },
        );
        self.child = child;
    }

    /// `docker --host unix://<socket> <args>` as a [`Cmd`] to customise.
    pub fn docker_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd::new(DOCKER_BIN)
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .args([
                OsStr::new("--host"),
                OsStr::new(&format!("unix://{}", self.socket().display())),
            ])
            .args(args)
    }

    /// Runs `docker --host unix://<socket> <args>` to completion.
    pub fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.docker_cmd(args).run()
    }

    /// Stops dockerd with SIGTERM (by pid) and asserts it exits within
    /// [`DOCKERD_STOP_TIMEOUT`].
    #[track_caller]
    pub fn stop(&mut self) {
        let Some(child) = self.child.take() else {
            panic!("stop: dockerd is not running");
        };
        assert!(
            stop_by_pid(child, DOCKERD_STOP_TIMEOUT).is_some(),
            "dockerd did not exit within {DOCKERD_STOP_TIMEOUT:?} of SIGTERM\n--- dockerd log ---\n{}",
            self.log()
        );
    }

    /// Starts dockerd again on the same directories (stop it first).
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: dockerd is still running");
        self.spawn();
    }

    /// Removes every container, bounded in time and never panicking.
    fn remove_containers(&self) {
        let docker = |args: &[&str]| {
            Command::new("timeout")
                .arg("20")
                .arg(DOCKER_BIN)
                .arg("--host")
                .arg(format!("unix://{}", self.socket().display()))
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
        };
        let Some(out) = docker(&["ps", "-aq"]) else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ids: Vec<&str> = text.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            docker(&args);
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- dockerd log ---\n{}\n--- end of dockerd log ---",
                self.log()
            );
        }
        if let Some(child) = self.child.take() {
            self.remove_containers();
            stop_by_pid(child, DOCKERD_STOP_TIMEOUT);
        }
        unmount_under(self.dir.path());
        if !self.had_run_dir {
            let plugins = Path::new(DOCKER_PLUGINS_DIR);
            let _ = std::fs::remove_dir(plugins);
            if let Some(run_dir) = plugins.parent() {
                let _ = std::fs::remove_dir(run_dir);
            }
        }
    }
}

/// Writes a one-layer `docker save` archive (`manifest.json`, the config
/// and the layer tar) of `rootfs`, tagged `tag`, next to the root
/// filesystem, and returns its path. Uses `tar`.
#[track_caller]
pub fn docker_save_tar(rootfs: &BusyboxRootfs, tag: &str) -> PathBuf {
    let work = rootfs
        .path()
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", rootfs.path().display()))
        .join("docker-save");
    let layer_tar = work.join("layer.tar.tmp");
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("mkdir {}: {e}", work.display()));
    let layer = rootfs.layer_tar(&layer_tar);
    let diff_id = sha256_digest(&layer);
    let layer_dir = diff_id.trim_start_matches("sha256:").to_string();
    std::fs::create_dir_all(work.join(&layer_dir))
        .unwrap_or_else(|e| panic!("mkdir {layer_dir}: {e}"));
    std::fs::rename(&layer_tar, work.join(&layer_dir).join("layer.tar"))
        .unwrap_or_else(|e| panic!("moving the layer: {e}"));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    let config_name = format!(
        "{}.json",
        sha256_digest(config.as_bytes()).trim_start_matches("sha256:")
    );
    std::fs::write(work.join(&config_name), &config)
        .unwrap_or_else(|e| panic!("writing the config: {e}"));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": [format!("{layer_dir}/layer.tar")],
    }])
    .to_string();
    std::fs::write(work.join("manifest.json"), manifest)
        .unwrap_or_else(|e| panic!("writing manifest.json: {e}"));
    let tar = work.with_file_name("docker-save.tar");
    Cmd::new("tar")
        .args(["-C"])
        .args([&work])
        .args(["-cf"])
        .args([&tar])
        .args(["manifest.json", config_name.as_str(), layer_dir.as_str()])
        .run()
        .ok();
    tar
}
