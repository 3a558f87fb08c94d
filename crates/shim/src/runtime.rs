//! The OCI runtime command line (runc, crun): what go-runc does for the Go
//! shim. Each command is spawned, its exit collected through the
//! [`Reaper`], and a failure reported with the runtime's last logged error.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::error::{Error, ErrorKind, Result};
use crate::reaper::Reaper;

/// An OCI runtime binary with its global flags.
#[derive(Debug, Clone)]
pub struct Runtime {
    binary: String,
    root: PathBuf,
    log: PathBuf,
    systemd_cgroup: bool,
    criu: String,
}

/// The stdio an OCI runtime command hands to the container process; `None`
/// is `/dev/null`.
#[derive(Debug, Default)]
pub struct ChildStdio {
    /// Standard input.
    pub stdin: Option<OwnedFd>,
    /// Standard output.
    pub stdout: Option<OwnedFd>,
    /// Standard error.
    pub stderr: Option<OwnedFd>,
}

/// The arguments of `create` (and of `restore`, which creates and starts).
#[derive(Debug)]
pub struct CreateArgs<'a> {
    /// The container id.
    pub id: &'a str,
    /// The bundle directory.
    pub bundle: &'a Path,
    /// Where the runtime writes the init pid.
    pub pid_file: &'a Path,
    /// Where the runtime sends the pty master, for a terminal.
    pub console_socket: Option<&'a Path>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// The container's stdio.
    pub stdio: ChildStdio,
    /// Restore from this checkpoint image, with this criu work directory.
    pub restore: Option<(&'a str, &'a Path)>,
}

/// What a finished command left behind.
struct Output {
    status: u32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Flags of `runc checkpoint`.
#[derive(Debug)]
pub struct CheckpointArgs<'a> {
    /// Where the image goes.
    pub image_path: &'a str,
    /// criu's work directory.
    pub work_path: &'a Path,
    /// Keep the container running afterwards.
    pub leave_running: bool,
    /// `--tcp-established`.
    pub open_tcp: bool,
    /// `--ext-unix-sk`.
    pub external_unix_sockets: bool,
    /// `--shell-job`.
    pub terminal: bool,
    /// `--file-locks`.
    pub file_locks: bool,
    /// `--empty-ns` for each.
    pub empty_namespaces: &'a [String],
}

impl Runtime {
    /// `binary` with its state under `root` (see
    /// [`crate::options::RuncOptions::runtime_root`]), logging JSON to
    /// `bundle/log.json`.
    pub fn new(binary: &str, root: PathBuf, bundle: &Path) -> Self {
        Runtime {
            binary: binary.to_string(),
            root,
            log: bundle.join("log.json"),
            systemd_cgroup: false,
            criu: String::new(),
        }
    }

    /// Uses the systemd cgroup driver and a criu binary when set.
    pub fn with(mut self, systemd_cgroup: bool, criu: &str) -> Self {
        self.systemd_cgroup = systemd_cgroup;
        self.criu = criu.to_string();
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"]);
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        if !self.criu.is_empty() {
            cmd.arg("--criu").arg(&self.criu);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs `cmd`, capturing its output unless its stdio was set already.
    async fn run(
        &self,
        reaper: &Reaper,
        mut cmd: Command,
        input: Option<&[u8]>,
        capture: bool,
    ) -> Result<Output> {
        if capture {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::FailedPrecondition
            } else {
                ErrorKind::Unknown
            };
            Error::new(kind, format!("running OCI runtime {}: {e}", self.binary))
        })?;
        let exit = reaper.subscribe(child.id());
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            // Small (a JSON document); fits the pipe buffer.
            let _ = stdin.write_all(data);
        }
        let (stdout, stderr) = tokio::join!(
            read_all(child.stdout.take().map(OwnedFd::from)),
            read_all(child.stderr.take().map(OwnedFd::from))
        );
        let exit = exit
            .await
            .map_err(|_| Error::internal(format!("lost the exit of {}", self.binary)))?;
        Ok(Output {
            status: exit.status,
            stdout,
            stderr,
        })
    }

    /// Runs `args`, failing with `what` and the runtime's own message.
    async fn simple(&self, reaper: &Reaper, args: &[&str], what: &str) -> Result<Vec<u8>> {
        let out = self.run(reaper, self.command(args), None, true).await?;
        self.check(out, what)
    }

    fn check(&self, out: Output, what: &str) -> Result<Vec<u8>> {
        if out.status == 0 {
            return Ok(out.stdout);
        }
        Err(Error::unknown(format!("{what}: {}", self.message(&out))))
    }

    /// The runtime's explanation of a failure: its last logged error, else
    /// its stderr, else the exit status.
    fn message(&self, out: &Output) -> String {
        if let Some(msg) = last_error(&self.log) {
            return msg;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            return stderr.to_string();
        }
        format!("{} exited with status {}", self.binary, out.status)
    }

    /// Clears the log so the next failure reports its own error.
    fn truncate_log(&self) {
        let _ = std::fs::File::create(&self.log);
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID`, or with
    /// `restore` set, `restore --detach ... --image-path I --work-path W ID`.
    pub async fn create(&self, reaper: &Reaper, a: CreateArgs<'_>) -> Result<()> {
        let mut cmd = match a.restore {
            None => self.command(&["create", "--bundle"]),
            Some(_) => self.command(&["restore", "--detach", "--no-subreaper", "--bundle"]),
        };
        cmd.arg(a.bundle).arg("--pid-file").arg(a.pid_file);
        if let Some((image, work)) = a.restore {
            cmd.args(["--image-path", image])
                .arg("--work-path")
                .arg(work);
        }
        if let Some(s) = a.console_socket {
            cmd.arg("--console-socket").arg(s);
        }
        if a.no_pivot {
            cmd.arg("--no-pivot");
        }
        if a.no_new_keyring && a.restore.is_none() {
            cmd.arg("--no-new-keyring");
        }
        cmd.arg(a.id);
        let what = match a.restore {
            None => "OCI runtime create failed",
            Some(_) => "OCI runtime restore failed",
        };
        self.with_stdio(reaper, cmd, a.stdio, what).await
    }

    /// `exec --detach --pid-file P --process F [--console-socket S] ID`.
    pub async fn exec(
        &self,
        reaper: &Reaper,
        id: &str,
        process: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: ChildStdio,
    ) -> Result<()> {
        let mut cmd = self.command(&["exec", "--detach", "--pid-file"]);
        cmd.arg(pid_file).arg("--process").arg(process);
        if let Some(s) = console_socket {
            cmd.arg("--console-socket").arg(s);
        }
        cmd.arg(id);
        self.with_stdio(reaper, cmd, stdio, "OCI runtime exec failed")
            .await
    }

    async fn with_stdio(
        &self,
        reaper: &Reaper,
        mut cmd: Command,
        stdio: ChildStdio,
        what: &str,
    ) -> Result<()> {
        let to = |fd: Option<OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(to(stdio.stdin))
            .stdout(to(stdio.stdout))
            .stderr(to(stdio.stderr));
        self.truncate_log();
        // The command's stdio belongs to the container; the error is in the log.
        let out = self.run(reaper, cmd, None, false).await?;
        self.check(out, what).map(drop)
    }

    /// `start ID`.
    pub async fn start(&self, reaper: &Reaper, id: &str) -> Result<()> {
        self.simple(reaper, &["start", id], "OCI runtime start failed")
            .await
            .map(drop)
    }

    /// `kill [--all] ID SIGNAL`, with containerd's reading of the failure:
    /// a process that is gone is `NotFound`.
    pub async fn kill(&self, reaper: &Reaper, id: &str, signal: u32, all: bool) -> Result<()> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        let out = self.run(reaper, self.command(&args), None, true).await?;
        if out.status == 0 {
            return Ok(());
        }
        Err(kill_error(&self.message(&out)))
    }

    /// `delete [--force] ID`; a container the runtime no longer knows is
    /// already deleted.
    pub async fn delete(&self, reaper: &Reaper, id: &str, force: bool) -> Result<()> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        match self.simple(reaper, &args, "failed to delete task").await {
            Err(e)
                if e.message().contains("does not exist") || e.message().contains("not found") =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// `pause ID`.
    pub async fn pause(&self, reaper: &Reaper, id: &str) -> Result<()> {
        self.simple(reaper, &["pause", id], "OCI runtime pause failed")
            .await
            .map(drop)
    }

    /// `resume ID`.
    pub async fn resume(&self, reaper: &Reaper, id: &str) -> Result<()> {
        self.simple(reaper, &["resume", id], "OCI runtime resume failed")
            .await
            .map(drop)
    }

    /// `ps --format json ID`: the pids in the container.
    pub async fn ps(&self, reaper: &Reaper, id: &str) -> Result<Vec<u32>> {
        let out = self
            .simple(
                reaper,
                &["ps", "--format", "json", id],
                "OCI runtime ps failed",
            )
            .await?;
        let pids: Option<Vec<u32>> = serde_json::from_slice(&out).map_err(|e| {
            Error::with_source(
                ErrorKind::Unknown,
                format_args!("parsing {} ps output", self.binary),
                e,
            )
        })?;
        Ok(pids.unwrap_or_default())
    }

    /// `update --resources - ID` with the LinuxResources JSON on stdin.
    pub async fn update(&self, reaper: &Reaper, id: &str, resources: &[u8]) -> Result<()> {
        let cmd = self.command(&["update", "--resources", "-", id]);
        let out = self.run(reaper, cmd, Some(resources), true).await?;
        self.check(out, "OCI runtime update failed").map(drop)
    }

    /// `checkpoint ...ID`.
    pub async fn checkpoint(
        &self,
        reaper: &Reaper,
        id: &str,
        a: &CheckpointArgs<'_>,
    ) -> Result<()> {
        let mut cmd = self.command(&["checkpoint", "--image-path", a.image_path, "--work-path"]);
        cmd.arg(a.work_path);
        for (on, flag) in [
            (a.leave_running, "--leave-running"),
            (a.open_tcp, "--tcp-established"),
            (a.external_unix_sockets, "--ext-unix-sk"),
            (a.terminal, "--shell-job"),
            (a.file_locks, "--file-locks"),
        ] {
            if on {
                cmd.arg(flag);
            }
        }
        for ns in a.empty_namespaces {
            cmd.args(["--empty-ns", ns]);
        }
        cmd.arg(id);
        self.truncate_log();
        let out = self.run(reaper, cmd, None, true).await?;
        if out.status == 0 {
            return Ok(());
        }
        // criu's first line says what failed; the rest is in its dump log.
        let msg = self.message(&out);
        let first = msg.lines().next().unwrap_or_default();
        Err(Error::unknown(format!(
            "OCI runtime checkpoint failed: {first}"
        )))
    }
}

/// containerd's `checkKillError`: classify a failed kill.
fn kill_error(msg: &str) -> Error {
    let lower = msg.to_lowercase();
    if lower.contains("container not running")
        || lower.contains("no such process")
        || lower.contains("process already finished")
    {
        Error::not_found("process already finished")
    } else if lower.contains("does not exist") || lower.contains("not found") {
        Error::not_found("no such container")
    } else {
        Error::unknown(format!("unknown error after kill: {msg}"))
    }
}

async fn read_all(fd: Option<OwnedFd>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(fd) = fd
        && let Ok(mut rx) = pipe::Receiver::from_owned_fd(fd)
    {
        let _ = rx.read_to_end(&mut buf).await;
    }
    buf
}

/// The message of the last `"level":"error"` line of a runtime's JSON log.
fn last_error(log: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(default)]
        level: String,
        #[serde(default)]
        msg: String,
    }
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .filter(|l| l.level == "error")
        .map(|l| l.msg.trim().to_string())
        .next_back()
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_errors_are_classified_like_containerd() {
        assert_eq!(
            kill_error("container not running").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            kill_error("process already finished").message(),
            "process already finished"
        );
        assert_eq!(
            kill_error("container \"x\" does not exist").message(),
            "no such container"
        );
        assert_eq!(kill_error("boom").kind(), ErrorKind::Unknown);
    }

    #[test]
    fn last_error_takes_the_final_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.json");
        std::fs::write(
            &log,
            "{\"level\":\"error\",\"msg\":\"first\"}\n{\"level\":\"warning\",\"msg\":\"w\"}\n{\"level\":\"error\",\"msg\":\"second \"}\nnot json\n",
        )
        .unwrap();
        assert_eq!(last_error(&log).as_deref(), Some("second"));
        assert_eq!(last_error(&dir.path().join("none")), None);
    }
}
