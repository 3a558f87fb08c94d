//! Containers and tasks end to end: `ctr` (containerd 1.6's client),
//! `cratectl` and the client library run containers through crated, with
//! our shim (`containerd-shim-crated-v1`, crated's default for
//! `io.containerd.runc.v2`) and with containerd's Go shim
//! (`containerd-shim-runc-v2`).
//!
//! **Needs root** (every test starts a daemon and runs containers with runc;
//! see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_client::ErrorKind;
use crated_client::container::{NewContainer, Rootfs};
use crated_client::containers::{Container, Runtime};
use crated_client::spec::SpecBuilder;
use crated_client::tasks::{CreateTask, Stdio};
use crated_e2e::client::{connect, runtime};
use crated_e2e::workload::{
    BusyboxRootfs, Cleanup, GO_SHIM, Shim, bundle_dir, ctr_containers, ctr_task_status,
    expect_shim_pid, find_shim_process, our_shim_bin, wait_pids_gone,
};
use crated_e2e::{Cmd, Daemon, Events, wait_until};

const NS: &str = "default";

/// `ctr run [shim flags] <rest>`.
fn ctr_run(daemon: &Daemon, shim: Shim, flags: &[&str], rest: &[&str]) -> crated_e2e::Output {
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(flags.iter().map(|s| s.to_string()));
    args.extend(shim.run_flags());
    args.extend(rest.iter().map(|s| s.to_string()));
    daemon.ctr_cmd(&args).timeout(Duration::from_secs(60)).run()
}

/// The whole `ctr` flow against one shim: run from a directory (stdout and
/// stderr captured, exit code propagated), run from an imported image, then
/// a detached task: exec, ps, pause/resume (PAUSED in `ctr t ls`), metrics,
/// kill, wait (`cratectl tasks wait`: ctr 1.6 has no `tasks wait`), rm; a
/// trapped SIGTERM's exit code; no shim process is left afterwards.
fn ctr_flow(shim: Shim) {
    let shim_bin = shim.binary();
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let name = shim.name();
    let mut shims = Vec::new();

    // Run from a directory: output and exit code.
    let id = format!("ctr-{name}-dir");
    cleanup.add(&id);
    let out = ctr_run(
        &daemon,
        shim,
        &["--rm", "--rootfs"],
        &[
            &rootfs.arg(),
            &id,
            "/bin/sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; exit 3",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code not propagated: {out}"
    );
    out.stdout_has("to-stdout");
    out.stderr_has("to-stderr");
    assert!(
        !ctr_containers(&daemon, NS).contains(&id),
        "--rm left container {id}"
    );

    // Run from an imported image.
    let image = "docker.io/library/e2e-busybox:latest";
    let tar = rootfs.oci_image_tar(image);
    daemon
        .cratectl_cmd(&["images", "import"])
        .args([&tar])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let id = format!("ctr-{name}-image");
    cleanup.add(&id);
    let out = ctr_run(
        &daemon,
        shim,
        &["--rm"],
        &[
            image,
            &id,
            "/bin/sh",
            "-c",
            "echo from-image $(ls /bin | wc -l)",
        ],
    )
    .ok();
    out.stdout_has("from-image");

    // A detached task.
    let id = format!("ctr-{name}-detached");
    cleanup.add(&id);
    ctr_run(
        &daemon,
        shim,
        &["-d", "--rootfs"],
        &[&rootfs.arg(), &id, "/bin/sleep", "300"],
    )
    .ok();
    let pid = expect_shim_pid(&daemon, NS, &id);
    cleanup.shim(pid);
    shims.push(pid);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let shim_file = shim_bin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(&shim_file),
        "shim pid {pid} is not {shim_file}: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert_eq!(
        ctr_task_status(&daemon, NS, &id).as_deref(),
        Some("RUNNING")
    );

    daemon
        .ctr(&["tasks", "exec", "--exec-id", "e1", &id, "/bin/echo", "hi"])
        .ok()
        .stdout_has("hi");
    let out = daemon.ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        "e2",
        &id,
        "/bin/sh",
        "-c",
        "exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "exec exit code: {out}");

    let ps = daemon.ctr(&["tasks", "ps", &id]).ok().lines();
    assert!(ps.len() >= 2, "ctr tasks ps lists no process: {ps:?}");

    daemon.ctr(&["tasks", "pause", &id]).ok();
    assert_eq!(ctr_task_status(&daemon, NS, &id).as_deref(), Some("PAUSED"));
    daemon.ctr(&["tasks", "resume", &id]).ok();
    assert_eq!(
        ctr_task_status(&daemon, NS, &id).as_deref(),
        Some("RUNNING")
    );

    let metrics = daemon.ctr(&["tasks", "metrics", &id]).ok();
    metrics.stdout_has("METRIC");
    metrics.stdout_has("pids.current");

    let waiter = daemon
        .cratectl_cmd(&["tasks", "wait", &id])
        .timeout(Duration::from_secs(30))
        .spawn();
    // Let the waiter subscribe before the kill (it must also handle a task
    // that already exited, so this is not a race for correctness).
    std::thread::sleep(Duration::from_millis(300));
    daemon.ctr(&["tasks", "kill", "-s", "KILL", &id]).ok();
    let waited = waiter.wait(Duration::from_secs(30)).ok();
    waited.stdout_has("137");
    assert_eq!(
        ctr_task_status(&daemon, NS, &id).as_deref(),
        Some("STOPPED")
    );
    daemon.ctr(&["tasks", "rm", &id]).ok();
    assert_eq!(ctr_task_status(&daemon, NS, &id), None);
    daemon.ctr(&["containers", "rm", &id]).ok();
    assert!(!ctr_containers(&daemon, NS).contains(&id));

    // SIGTERM reaches a PID-1 shell that traps it.
    let id = format!("ctr-{name}-trap");
    cleanup.add(&id);
    ctr_run(
        &daemon,
        shim,
        &["-d", "--rootfs"],
        &[
            &rootfs.arg(),
            &id,
            "/bin/sh",
            "-c",
            "trap 'exit 42' TERM; while true; do sleep 0.1; done",
        ],
    )
    .ok();
    let pid = expect_shim_pid(&daemon, NS, &id);
    cleanup.shim(pid);
    shims.push(pid);
    // The trap is set once the shell runs its loop (a `sleep` child shows).
    let looping = wait_until(Duration::from_secs(10), || {
        daemon.ctr(&["tasks", "ps", &id]).ok().lines().len() >= 3
    });
    assert!(looping, "{id} never ran its loop");
    daemon.ctr(&["tasks", "kill", "-s", "TERM", &id]).ok();
    daemon
        .cratectl_cmd(&["tasks", "wait", &id])
        .timeout(Duration::from_secs(30))
        .run()
        .ok()
        .stdout_has("42");
    daemon.ctr(&["tasks", "rm", &id]).ok();
    daemon.ctr(&["containers", "rm", &id]).ok();

    let left = wait_pids_gone(&shims, Duration::from_secs(10));
    assert!(left.is_empty(), "shim processes left: {left:?}");
    drop(cleanup);
}

/// `ctr` through crated with our shim: run from a directory and from an
/// image, exec, ps, pause/resume, metrics, kill, wait, rm. Needs root.
#[test]
fn ctr_tasks_with_our_shim() {
    ctr_flow(Shim::Crated);
}

/// The same flow through containerd's Go shim (`--runtime` with its path).
/// Needs root.
#[test]
fn ctr_tasks_with_go_shim() {
    ctr_flow(Shim::Go);
}

/// Our shim is built next to crated, and crated's default config maps
/// `io.containerd.runc.v2` to it (the task's shim process is ours). The Go
/// shim can also be selected for the whole daemon through `runtime_paths`.
/// Needs root.
#[test]
fn default_runtime_is_our_shim_and_runtime_paths_select_go_shim() {
    let ours = our_shim_bin();
    let rootfs = BusyboxRootfs::new();
    for (config, expect) in [
        (String::new(), ours.clone()),
        (
            format!(
                "[plugins.\"io.containerd.runtime.v2.task\".runtime_paths]\n\"io.containerd.runc.v2\" = {GO_SHIM:?}\n"
            ),
            GO_SHIM.into(),
        ),
    ] {
        let daemon = Daemon::start_with_config(&config);
        let mut cleanup = Cleanup::new(&daemon, NS);
        let id = "which-shim";
        cleanup.add(id);
        daemon
            .ctr_cmd(&[
                "run",
                "-d",
                "--rootfs",
                &rootfs.arg(),
                id,
                "/bin/sleep",
                "300",
            ])
            .timeout(Duration::from_secs(60))
            .run()
            .ok();
        let pid = expect_shim_pid(&daemon, NS, id);
        cleanup.shim(pid);
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .unwrap_or_else(|e| panic!("readlink /proc/{pid}/exe: {e}"));
        let canon = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
        assert_eq!(
            canon(&exe),
            canon(&expect),
            "with config {config:?} the shim is {}",
            exe.display()
        );
        daemon.ctr(&["tasks", "kill", "-s", "KILL", id]).ok();
        let mut cleanup_done = false;
        wait_until(Duration::from_secs(10), || {
            cleanup_done = ctr_task_status(&daemon, NS, id).as_deref() == Some("STOPPED");
            cleanup_done
        });
        assert!(cleanup_done, "task {id} did not stop after SIGKILL");
        daemon.ctr(&["tasks", "rm", id]).ok();
        daemon.ctr(&["containers", "rm", id]).ok();
        assert!(wait_pids_gone(&[pid], Duration::from_secs(10)).is_empty());
    }
}

/// The basic flow with `cratectl` against both shims: run --rm from a
/// directory (output, exit code), a detached task with exec, ps,
/// pause/resume, metrics, kill, wait, rm. Needs root.
#[test]
fn cratectl_tasks_both_shims() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    for shim in Shim::ALL {
        let name = shim.name();
        let id = format!("cctl-{name}-rm");
        cleanup.add(&id);
        let mut args: Vec<String> = vec!["containers".into(), "run".into(), "--rm".into()];
        args.extend(shim.run_flags());
        args.extend(
            [
                "--rootfs",
                &rootfs.arg(),
                &id,
                "/bin/sh",
                "-c",
                "echo out-$0; echo err-$0 >&2; exit 4",
            ]
            .map(String::from),
        );
        let out = daemon
            .cratectl_cmd(&args)
            .timeout(Duration::from_secs(60))
            .run();
        assert_eq!(out.status.code(), Some(4), "{name}: {out}");
        out.stdout_has("out-");
        out.stderr_has("err-");

        let id = format!("cctl-{name}-d");
        cleanup.add(&id);
        let mut args: Vec<String> = vec!["containers".into(), "run".into(), "-d".into()];
        args.extend(shim.run_flags());
        args.extend(["--rootfs", &rootfs.arg(), &id, "/bin/sleep", "300"].map(String::from));
        daemon
            .cratectl_cmd(&args)
            .timeout(Duration::from_secs(60))
            .run()
            .ok();
        let pid = expect_shim_pid(&daemon, NS, &id);
        cleanup.shim(pid);
        daemon
            .cratectl(&[
                "tasks",
                "exec",
                "--exec-id",
                "x1",
                &id,
                "/bin/echo",
                "exec-out",
            ])
            .ok()
            .stdout_has("exec-out");
        daemon.cratectl(&["tasks", "ps", &id]).ok();
        daemon.cratectl(&["tasks", "pause", &id]).ok();
        daemon.cratectl(&["tasks", "ls"]).ok().stdout_has("PAUSED");
        daemon.cratectl(&["tasks", "resume", &id]).ok();
        assert_eq!(
            ctr_task_status(&daemon, NS, &id).as_deref(),
            Some("RUNNING")
        );
        daemon.cratectl(&["tasks", "metrics", &id]).ok();
        daemon
            .cratectl(&["tasks", "kill", "-s", "SIGKILL", &id])
            .ok();
        daemon
            .cratectl_cmd(&["tasks", "wait", &id])
            .timeout(Duration::from_secs(30))
            .run()
            .ok()
            .stdout_has("137");
        daemon.cratectl(&["tasks", "rm", &id]).ok();
        daemon.cratectl(&["containers", "rm", &id]).ok();
        assert!(!ctr_containers(&daemon, NS).contains(&id));
        assert!(
            wait_pids_gone(&[pid], Duration::from_secs(10)).is_empty(),
            "{name}: shim {pid} left"
        );
    }
}

/// A small run through the client library: container from a directory with
/// a spec from `SpecBuilder`, task create/start/wait (exit code), pids,
/// delete. Needs root.
#[test]
fn client_library_runs_a_task() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, "lib");
    cleanup.add("lib-run");
    runtime().block_on(async {
        let client = connect(&daemon).await.namespace("lib");
        let id = "lib-run";
        let spec = SpecBuilder::new("lib", id).default_path_env().args([
            "/bin/sh",
            "-c",
            "sleep 1; exit 7",
        ]);
        let container = client
            .create_container(
                NewContainer::new(id, Rootfs::Directory(rootfs.path())),
                spec,
            )
            .await
            .unwrap_or_else(|e| panic!("create_container: {e}"));
        let listed = client
            .containers()
            .list(&[])
            .await
            .unwrap_or_else(|e| panic!("containers list: {e}"));
        assert!(listed.iter().any(|c| c.id == id));
        let pid = client
            .create_task(&container, Stdio::default())
            .await
            .unwrap_or_else(|e| panic!("create_task: {e}"));
        assert!(pid > 0);
        client
            .tasks()
            .start(id, "")
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let pids = client
            .tasks()
            .pids(id)
            .await
            .unwrap_or_else(|e| panic!("pids: {e}"));
        assert!(pids.iter().any(|p| p.pid == pid), "{pids:?} lacks {pid}");
        let status = tokio::time::timeout(Duration::from_secs(30), client.tasks().wait(id, ""))
            .await
            .unwrap_or_else(|_| panic!("wait timed out"))
            .unwrap_or_else(|e| panic!("wait: {e}"));
        assert_eq!(status.code, 7);
        let deleted = client
            .tasks()
            .delete(id)
            .await
            .unwrap_or_else(|e| panic!("delete task: {e}"));
        assert_eq!(deleted.code, 7);
        client
            .delete_container(id, false)
            .await
            .unwrap_or_else(|e| panic!("delete container: {e}"));
        let err = client
            .containers()
            .get(id)
            .await
            .expect_err("the container is gone");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

/// A TTY session through a pty (`script`): `cratectl containers run -t` (both shims)
/// and `ctr run -t` with a shell, typed `echo hi; exit 5`: the output has
/// `hi`, the exit code is 5. Needs root.
#[test]
fn tty_session_through_a_pty() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let mut sessions = Vec::new();
    for shim in Shim::ALL {
        let id = format!("tty-cratectl-{}", shim.name());
        sessions.push((
            id.clone(),
            format!(
                "{} -a {} containers run -t --rm {} --rootfs {} {id} /bin/sh",
                crated_e2e::cratectl_bin().display(),
                daemon.socket().display(),
                shim.run_flags().join(" "),
                rootfs.arg()
            ),
        ));
        let id = format!("tty-ctr-{}", shim.name());
        sessions.push((
            id.clone(),
            format!(
                "{} -a {} run -t --rm {} --rootfs {} {id} /bin/sh",
                crated_e2e::ctr_bin().display(),
                daemon.socket().display(),
                shim.run_flags().join(" "),
                rootfs.arg()
            ),
        ));
    }
    for (id, inner) in sessions {
        cleanup.add(&id);
        let out = Cmd::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin_bytes("echo h''i; exit 5\n")
            .timeout(Duration::from_secs(60))
            .run();
        assert_eq!(out.status.code(), Some(5), "{id}: {out}");
        // `h''i` typed; the shell prints `hi` (the echo of the typed line
        // has the quotes, so this is the command's output). ctr leaves the
        // outer pty's output processing on, so its lines end in `\r\r\n`.
        assert!(
            out.stdout()
                .lines()
                .any(|l| l.trim_end_matches('\r') == "hi"),
            "{id}: {out}"
        );
        assert!(
            !ctr_containers(&daemon, NS).contains(&id),
            "{id}: --rm left the container"
        );
    }
}

/// Bad input gets containerd's error codes and the daemon keeps serving:
/// unknown runtime (names the shim binary), missing rootfs, invalid spec,
/// exec id clash, kill of an exited task. Needs root.
#[test]
fn bad_input_gets_clear_errors() {
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    for id in ["bad-runtime", "bad-rootfs", "bad-exec", "bad-exited"] {
        cleanup.add(id);
    }
    let mut lib_cleanup = Cleanup::new(&daemon, "lib");
    lib_cleanup.add("bad-spec");

    // Unknown runtime.
    let out = daemon
        .ctr_cmd(&[
            "run",
            "--rm",
            "--runtime",
            "io.containerd.nothere.v1",
            "--rootfs",
            &rootfs.arg(),
            "bad-runtime",
            "/bin/true",
        ])
        .timeout(Duration::from_secs(60))
        .run()
        .fails();
    out.stderr_has("containerd-shim-nothere-v1");
    out.stderr_has("not found");
    daemon.assert_serving();

    // Missing rootfs: runc's error, passed on as containerd does.
    let missing = rootfs.path().with_file_name("no-such-rootfs");
    let out = daemon
        .ctr_cmd(&["run", "--rm", "--rootfs"])
        .args([&missing])
        .args(["bad-rootfs", "/bin/true"])
        .timeout(Duration::from_secs(60))
        .run()
        .fails();
    out.stderr_has("no-such-rootfs");
    daemon.assert_serving();
    assert!(!ctr_containers(&daemon, NS).contains(&"bad-rootfs".to_string()));

    // Invalid spec: a container whose spec is not JSON; creating its task
    // fails with a clear error.
    runtime().block_on(async {
        let client = connect(&daemon).await.namespace("lib");
        let container = Container {
            id: "bad-spec".into(),
            runtime: Runtime {
                name: "io.containerd.runc.v2".into(),
                options: None,
            },
            spec: Some(prost_any(b"{ this is not a spec")),
            ..Container::default()
        };
        match client.containers().create(&container).await {
            Err(err) => {
                eprintln!(
                    "containers create with a garbage spec: {:?}: {err}",
                    err.kind()
                );
                assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            }
            Ok(created) => {
                let err = client
                    .tasks()
                    .create(CreateTask {
                        container_id: created.id.clone(),
                        ..CreateTask::default()
                    })
                    .await
                    .expect_err("a task from a garbage spec");
                eprintln!("task create with a garbage spec: {:?}: {err}", err.kind());
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition
                    ),
                    "task create with a garbage spec: {:?}: {err}",
                    err.kind()
                );
                let tasks = client
                    .tasks()
                    .list()
                    .await
                    .unwrap_or_else(|e| panic!("tasks list: {e}"));
                assert!(tasks.iter().all(|t| t.container_id != "bad-spec"));
                let bundle = bundle_dir(&daemon, "lib", "bad-spec");
                assert!(
                    !bundle.exists(),
                    "a failed task create left its bundle {}",
                    bundle.display()
                );
                assert_eq!(
                    find_shim_process(&daemon.socket().display().to_string(), "lib", "bad-spec"),
                    None
                );
                client
                    .containers()
                    .delete("bad-spec")
                    .await
                    .unwrap_or_else(|e| panic!("containers delete: {e}"));
            }
        }
    });
    daemon.assert_serving();

    // Exec id clash.
    daemon
        .ctr_cmd(&[
            "run",
            "-d",
            "--rootfs",
            &rootfs.arg(),
            "bad-exec",
            "/bin/sleep",
            "300",
        ])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    cleanup.shim(expect_shim_pid(&daemon, NS, "bad-exec"));
    daemon
        .ctr(&[
            "tasks",
            "exec",
            "-d",
            "--exec-id",
            "same",
            "bad-exec",
            "/bin/sleep",
            "300",
        ])
        .ok();
    daemon
        .ctr(&[
            "tasks",
            "exec",
            "-d",
            "--exec-id",
            "same",
            "bad-exec",
            "/bin/sleep",
            "300",
        ])
        .fails()
        .stderr_has("already exists");
    daemon.assert_serving();

    // Kill of an exited task: "process already finished: not found", as
    // containerd with its Go shim says.
    for shim in Shim::ALL {
        let id = format!("bad-exited-{}", shim.name());
        cleanup.add(&id);
        let mut args: Vec<String> = vec!["run".into(), "-d".into()];
        args.extend(shim.run_flags());
        args.extend(["--rootfs", &rootfs.arg(), &id, "/bin/sh", "-c", "exit 2"].map(String::from));
        daemon
            .ctr_cmd(&args)
            .timeout(Duration::from_secs(60))
            .run()
            .ok();
        let stopped = wait_until(Duration::from_secs(10), || {
            ctr_task_status(&daemon, NS, &id).as_deref() == Some("STOPPED")
        });
        assert!(stopped, "{id} did not stop");
        daemon
            .ctr(&["tasks", "kill", "-s", "KILL", &id])
            .fails()
            .stderr_has("not found");
        daemon.ctr(&["tasks", "rm", &id]).ok();
        daemon.ctr(&["containers", "rm", &id]).ok();
    }
    daemon.assert_serving();
    drop(cleanup);
    drop(lib_cleanup);
}

fn prost_any(value: &[u8]) -> crated_client::api::prost_types::Any {
    crated_client::api::prost_types::Any {
        type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
        value: value.to_vec(),
    }
}

/// Events of a task's life reach `ctr events`: create, start, exec-added,
/// exec-started, paused, resumed, exit, delete. Needs root.
#[test]
fn task_events_reach_subscribers() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add("ev-task");
    let events = Events::start(&daemon);
    daemon
        .ctr_cmd(&[
            "run",
            "-d",
            "--rootfs",
            &rootfs.arg(),
            "ev-task",
            "/bin/sleep",
            "300",
        ])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    cleanup.shim(expect_shim_pid(&daemon, NS, "ev-task"));
    daemon
        .ctr(&["tasks", "exec", "--exec-id", "e", "ev-task", "/bin/true"])
        .ok();
    daemon.ctr(&["tasks", "pause", "ev-task"]).ok();
    daemon.ctr(&["tasks", "resume", "ev-task"]).ok();
    daemon.ctr(&["tasks", "kill", "-s", "KILL", "ev-task"]).ok();
    for topic in [
        "/containers/create",
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
    ] {
        events.expect(NS, topic);
    }
    daemon.ctr(&["tasks", "rm", "ev-task"]).ok();
    events.expect(NS, "/tasks/delete");
    daemon.ctr(&["containers", "rm", "ev-task"]).ok();
    events.expect(NS, "/containers/delete");
    events.stop();
}
