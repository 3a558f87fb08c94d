//! Docker Engine on crated: Debian's dockerd 20.10 (`docker.io`) with
//! `--containerd` pointed at a test crated, driven with Debian's `docker`
//! client through the container lifecycle a user runs, a failed start, and
//! a dockerd restart with `--live-restore`. No namespace is created by
//! hand: dockerd's Go client reads the labels of namespace `moby` before
//! anything exists, as it does on containerd.
//!
//! **Needs root** (crated, dockerd, runc, cgroups, mounts) and Debian's
//! `docker.io`, `containerd` (`ctr`) and `busybox-static`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crated_e2e::docker::{Dockerd, docker_save_tar};
use crated_e2e::workload::{BusyboxRootfs, bundle_cgroups_path, ctr_task_status, pid_alive};
use crated_e2e::{Daemon, wait_until};

/// dockerd's containerd namespace.
const NS: &str = "moby";
const IMAGE: &str = "e2e/busybox:latest";

/// A started dockerd with the test image loaded.
fn docker_with_image(daemon: &Daemon, live_restore: bool) -> (Dockerd, BusyboxRootfs) {
    let docker = Dockerd::start(daemon, live_restore);
    let rootfs = BusyboxRootfs::new();
    let tar = docker_save_tar(&rootfs, IMAGE);
    let tar = tar.display().to_string();
    docker
        .docker(&["load", "-i", &tar])
        .ok()
        .stdout_has(&format!("Loaded image: {IMAGE}"));
    (docker, rootfs)
}

/// A name no other test on this machine uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

fn inspect(docker: &Dockerd, format: &str, name: &str) -> String {
    docker
        .docker(&["inspect", "-f", format, name])
        .ok()
        .stdout()
        .trim()
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The memory limit the kernel holds for the cgroup at `cgroups_path`
/// (cgroup v1 `memory.limit_in_bytes` or v2 `memory.max`).
fn memory_limit(cgroups_path: &str) -> Option<String> {
    let rel = cgroups_path.trim_start_matches('/');
    [
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.limit_in_bytes"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.max"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
}

/// The server revision `ctr version` reports.
fn server_revision(daemon: &Daemon) -> String {
    let out = daemon.ctr(&["version"]).ok().stdout();
    let server = out.split("Server:").nth(1).unwrap_or_default().to_string();
    server
        .lines()
        .find_map(|l| l.trim().strip_prefix("Revision:"))
        .map(|r| r.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn docker_runs_the_container_lifecycle_on_crated() {
    let daemon = Daemon::start();
    let (docker, _rootfs) = docker_with_image(&daemon, false);
    let since = now().to_string();

    // docker info reports crated's revision as the containerd version.
    let revision = server_revision(&daemon);
    assert!(
        revision.len() >= 7 && revision != "unknown",
        "crated reports no revision: {revision:?}"
    );
    let shown = docker
        .docker(&["info", "--format", "{{.ContainerdCommit.ID}}"])
        .ok()
        .stdout();
    assert_eq!(shown.trim(), revision, "docker info's containerd version");

    // run --rm: output, separate stderr, exit code.
    docker
        .docker(&["run", "--rm", IMAGE, "echo", "hello from crated"])
        .ok()
        .stdout_has("hello from crated");
    let out = docker.docker(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "exit code of run --rm: {out}");
    out.stdout_has("to-stdout").stdout_lacks("to-stderr");
    out.stderr_has("to-stderr");

    // run -d with a memory limit.
    let name = unique("e2e-life");
    let id = docker
        .docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--memory",
            "64m",
            IMAGE,
            "sh",
            "-c",
            "echo started; echo oops >&2; exec sleep 1000",
        ])
        .ok()
        .stdout()
        .trim()
        .to_string();
    assert_eq!(
        ctr_task_status(&daemon, NS, &id).as_deref(),
        Some("RUNNING")
    );
    let cgroups = bundle_cgroups_path(&daemon, NS, &id)
        .unwrap_or_else(|| panic!("no cgroupsPath in the bundle of {id}"));
    assert_eq!(
        memory_limit(&cgroups).as_deref(),
        Some("67108864"),
        "memory limit of cgroup {cgroups}"
    );

    // logs, exec, stats, top.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let logs = docker.docker(&["logs", &name]);
            logs.stdout().contains("started") && logs.stderr.contains("oops")
        }),
        "docker logs never showed the container's output: {}",
        docker.docker(&["logs", &name])
    );
    docker
        .docker(&["exec", &name, "echo", "from exec"])
        .ok()
        .stdout_has("from exec");
    docker
        .docker(&["exec", &name, "sh", "-c", "echo exec-err >&2"])
        .ok()
        .stderr_has("exec-err");
    docker
        .docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &name])
        .ok()
        .stdout_has("64MiB");
    docker.docker(&["top", &name]).ok().stdout_has("sleep 1000");

    // pause / unpause.
    docker.docker(&["pause", &name]).ok();
    assert_eq!(inspect(&docker, "{{.State.Status}}", &name), "paused");
    assert_eq!(ctr_task_status(&daemon, NS, &id).as_deref(), Some("PAUSED"));
    docker.docker(&["unpause", &name]).ok();
    assert_eq!(inspect(&docker, "{{.State.Status}}", &name), "running");

    // stop -t (sleep as pid 1 ignores SIGTERM: killed after the timeout).
    docker.docker(&["stop", "-t", "1", &name]).ok();
    assert_eq!(inspect(&docker, "{{.State.Status}}", &name), "exited");
    assert_eq!(inspect(&docker, "{{.State.ExitCode}}", &name), "137");

    // start again, then kill.
    docker.docker(&["start", &name]).ok();
    assert_eq!(inspect(&docker, "{{.State.Status}}", &name), "running");
    assert!(
        wait_until(Duration::from_secs(10), || {
            docker
                .docker(&["logs", &name])
                .stdout()
                .matches("started")
                .count()
                == 2
        }),
        "the restarted container's output is not in docker logs"
    );
    docker.docker(&["kill", &name]).ok();
    docker.docker(&["wait", &name]).ok().stdout_has("137");

    // rm -f leaves nothing in crated.
    docker.docker(&["rm", "-f", &name]).ok();
    docker.docker(&["ps", "-a"]).ok().stdout_lacks(&name);
    daemon
        .ctr(&["-n", NS, "containers", "ls", "-q"])
        .ok()
        .stdout_lacks(&id);

    // events: what dockerd saw, including the exits crated reported.
    let until = (now() + 1).to_string();
    let events = docker
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            &format!("container={id}"),
            "--format",
            "{{.Action}}",
        ])
        .ok()
        .lines();
    for action in [
        "create", "start", "pause", "unpause", "kill", "die", "stop", "destroy",
    ] {
        assert!(
            events.iter().any(|a| a == action),
            "no {action:?} event among {events:?}"
        );
    }
    assert!(
        events.iter().any(|a| a.starts_with("exec_start")),
        "no exec_start event among {events:?}"
    );
}

#[test]
fn docker_failed_start_keeps_the_runtime_error_out_of_the_container_output() {
    let daemon = Daemon::start();
    let (docker, _rootfs) = docker_with_image(&daemon, false);

    // A command that does not exist: the error names containerd's prefixes,
    // and the container's log stays empty.
    let bad = unique("e2e-bad");
    let out = docker.docker(&["run", "--name", &bad, IMAGE, "/no/such/binary"]);
    assert!(!out.succeeded(), "run of a missing binary succeeded: {out}");
    out.stderr_has("failed to create shim task: OCI runtime create failed")
        .stderr_has("/no/such/binary");
    let logs = docker.docker(&["logs", &bad]).ok();
    assert!(
        logs.stdout().is_empty() && logs.stderr.is_empty(),
        "the runtime's error reached the container's log: {logs}"
    );
    docker.docker(&["rm", "-f", &bad]).ok();

    // An exec that cannot start: the error comes back once, as the reply
    // (which docker 20.10 prints on stdout), not a second time on the
    // exec's own stderr.
    let name = unique("e2e-exec");
    docker
        .docker(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"])
        .ok();
    let out = docker.docker(&["exec", &name, "/no/such/binary"]);
    assert!(
        !out.succeeded(),
        "exec of a missing binary succeeded: {out}"
    );
    let printed = format!("{}{}", out.stdout(), out.stderr);
    assert!(
        printed.contains("OCI runtime exec failed"),
        "no OCI runtime error in the reply: {out}"
    );
    assert_eq!(
        printed.matches("unable to start container process").count(),
        1,
        "the runtime's error reached the exec's stderr as well as the reply: {out}"
    );
    let logs = docker.docker(&["logs", &name]).ok();
    assert!(
        !logs.stderr.contains("unable to start"),
        "the exec error reached the container's log: {logs}"
    );
    docker.docker(&["rm", "-f", &name]).ok();
}

#[test]
fn docker_live_restore_keeps_a_running_container_across_a_dockerd_restart() {
    let daemon = Daemon::start();
    let (mut docker, _rootfs) = docker_with_image(&daemon, true);
    let name = unique("e2e-live");
    let id = docker
        .docker(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    let pid: u32 = inspect(&docker, "{{.State.Pid}}", &name)
        .parse()
        .unwrap_or_else(|e| panic!("container pid: {e}"));

    docker.stop();
    assert!(pid_alive(pid), "the container died with dockerd");
    assert_eq!(
        ctr_task_status(&daemon, NS, &id).as_deref(),
        Some("RUNNING")
    );

    docker.restart();
    assert_eq!(inspect(&docker, "{{.State.Running}}", &name), "true");
    assert_eq!(inspect(&docker, "{{.State.Pid}}", &name), pid.to_string());
    docker
        .docker(&["exec", &name, "echo", "still here"])
        .ok()
        .stdout_has("still here");
    docker.docker(&["rm", "-f", &name]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || !pid_alive(pid)),
        "the container outlived docker rm -f"
    );
}

#[test]
fn crated_stops_at_once_with_dockerd_connected() {
    let mut daemon = Daemon::start();
    let docker = Dockerd::start(&daemon, false);
    docker.docker(&["info"]).ok();
    daemon.stop();
    let log = daemon.log();
    assert!(
        !log.contains("still open after the shutdown grace period"),
        "crated waited out its grace period for dockerd's open streams:\n{log}"
    );
    drop(docker);
}
