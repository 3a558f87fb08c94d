//! `cratectl containers run`, `containers` and `tasks` against a real crated running
//! containerd's Go shim, from busybox root filesystem directories.
//!
//! **Needs root**: every test starts crated (see `common::daemon`), whose
//! shim runs runc. Each test is bounded in time and removes its tasks and
//! containers and stops its daemon (by pid) when it ends.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::Daemon;
use crated_e2e::cmd::wait_bounded;
use crated_e2e::wait_until;

fn fifo_arg(daemon: &Daemon) -> String {
    daemon.fifo_dir().display().to_string()
}

fn fifo_dir_is_empty(daemon: &Daemon) -> bool {
    std::fs::read_dir(daemon.fifo_dir())
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

#[test]
fn run_rm_captures_output_and_propagates_the_exit_code() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    let out = daemon.cratectl(&[
        "containers",
        "run",
        "--rm",
        "--fifo-dir",
        &fifo,
        "--rootfs",
        rootfs.to_str().unwrap(),
        "r1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout(), "out\n");
    assert!(out.stderr.contains("err"), "{out:?}");
    // Exit 0 is success; stdin is passed through.
    let out = daemon
        .cratectl_stdin(
            &[
                "containers",
                "run",
                "--rm",
                "--fifo-dir",
                &fifo,
                "--rootfs",
                rootfs.to_str().unwrap(),
                "r2",
                "cat",
            ],
            b"piped input\n",
        )
        .ok();
    assert_eq!(out.stdout(), "piped input\n");
    assert!(daemon.ids("containers").is_empty());
    assert!(daemon.ids("tasks").is_empty());
    assert!(fifo_dir_is_empty(&daemon), "FIFOs left behind");
}

#[test]
fn run_rm_cleans_up_when_the_process_cannot_start() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "bad",
            "/no/such/binary",
        ])
        .fails();
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out:?}");
    assert!(out.stderr.starts_with("cratectl: "), "{out:?}");
    assert!(daemon.ids("containers").is_empty());
    assert!(daemon.ids("tasks").is_empty());
    // Bad input is a clear error with a hint.
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--rootfs",
            "/no/such/dir",
            "x",
            "true",
        ])
        .fails();
    assert!(out.stderr.contains("not a directory"), "{out:?}");
    let out = daemon.cratectl(&["tasks", "kill", "ghost"]).fails();
    assert!(
        out.stderr.contains("not found") && out.stderr.contains("containers ls"),
        "{out:?}"
    );
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "-d",
            "--rootfs",
            "/",
            "x",
            "true",
        ])
        .fails();
    assert!(out.stderr.contains("cannot be used with"), "{out:?}");
}

#[test]
fn detached_task_exec_ps_kill_wait_rm() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    daemon
        .cratectl(&[
            "containers",
            "run",
            "-d",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "d1",
            "sleep",
            "1000",
        ])
        .ok();
    let ls = daemon.cratectl(&["tasks", "ls"]).ok();
    assert!(ls.stdout().starts_with("TASK"), "{ls:?}");
    assert!(ls.stdout().contains("RUNNING"), "{ls:?}");
    let json: serde_json::Value = serde_json::from_str(
        &daemon
            .cratectl(&["--format", "json", "tasks", "ls"])
            .ok()
            .stdout(),
    )
    .unwrap();
    assert_eq!(json[0]["id"], "d1");
    assert_eq!(json[0]["status"], "RUNNING");

    let exec = daemon.cratectl(&[
        "tasks",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e1",
        "d1",
        "sh",
        "-c",
        "echo in-exec; exit 4",
    ]);
    assert_eq!(exec.code(), Some(4), "{exec:?}");
    assert_eq!(exec.stdout(), "in-exec\n");
    // Exec as a user named in the rootfs's /etc/passwd.
    let exec = daemon
        .cratectl(&[
            "tasks",
            "exec",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "e2",
            "-u",
            "app",
            "d1",
            "id",
            "-u",
        ])
        .ok();
    assert_eq!(exec.stdout(), "1000\n");
    daemon
        .cratectl(&[
            "tasks",
            "exec",
            "-d",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "e3",
            "d1",
            "sleep",
            "1000",
        ])
        .ok();
    let ps = daemon.cratectl(&["tasks", "ps", "d1"]).ok();
    assert!(ps.stdout().starts_with("PID"), "{ps:?}");
    assert_eq!(ps.stdout().lines().count(), 3, "{ps:?}");
    assert!(ps.stdout().contains("ExecID:e3"), "{ps:?}");

    // An exec id may not be used twice.
    let out = daemon
        .cratectl(&[
            "tasks",
            "exec",
            "-d",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "e3",
            "d1",
            "true",
        ])
        .fails();
    assert!(out.stderr.contains("e3"), "{out:?}");

    // A running task cannot be deleted; kill it and wait for it.
    let out = daemon.cratectl(&["tasks", "rm", "d1"]).fails();
    assert!(out.stderr.contains("running"), "{out:?}");
    let waiter = daemon
        .cratectl_cmd(&["tasks", "wait", "d1"])
        .command()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    daemon
        .cratectl(&["tasks", "kill", "-s", "SIGKILL", "d1"])
        .ok();
    let mut waiter = waiter;
    let status = wait_bounded(&mut waiter, Duration::from_secs(30), "tasks wait");
    assert!(status.success());
    let mut printed = String::new();
    waiter
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert_eq!(printed, "137\n");
    let ls = daemon.cratectl(&["tasks", "ls"]).ok();
    assert!(ls.stdout().contains("STOPPED"), "{ls:?}");
    let rm = daemon.cratectl(&["tasks", "rm", "d1"]).ok();
    assert!(rm.stderr.contains("137"), "{rm:?}");
    assert!(daemon.ids("tasks").is_empty());
    daemon.cratectl(&["containers", "rm", "d1"]).ok();
    assert!(daemon.ids("containers").is_empty());
    // Only the detached exec's FIFOs stay (as with ctr: nothing records
    // them once the task is gone).
    let left: Vec<String> = std::fs::read_dir(daemon.fifo_dir())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|name| name.starts_with("e3-")),
        "FIFOs left behind: {left:?}"
    );
}

#[test]
fn pause_resume_and_metrics() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    daemon
        .cratectl(&[
            "containers",
            "run",
            "-d",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "p1",
            "sleep",
            "1000",
        ])
        .ok();
    daemon.cratectl(&["tasks", "pause", "p1"]).ok();
    assert!(
        daemon
            .cratectl(&["tasks", "ls"])
            .ok()
            .stdout()
            .contains("PAUSED")
    );
    daemon.cratectl(&["tasks", "resume", "p1"]).ok();
    assert!(
        daemon
            .cratectl(&["tasks", "ls"])
            .ok()
            .stdout()
            .contains("RUNNING")
    );

    let metrics = daemon.cratectl(&["tasks", "metrics", "p1"]).ok();
    let lines: Vec<String> = metrics.stdout().lines().map(String::from).collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("TIMESTAMP"),
        "{metrics:?}"
    );
    assert!(lines[1].starts_with("p1"), "{metrics:?}");
    assert!(lines[3].starts_with("METRIC"), "{metrics:?}");
    assert!(
        metrics.stdout().contains("pids.current") || metrics.stdout().contains("memory.usage"),
        "{metrics:?}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &daemon
            .cratectl(&["--format", "json", "tasks", "metrics", "p1"])
            .ok()
            .stdout(),
    )
    .unwrap();
    assert!(
        json.get("pids").is_some() || json.get("memory").is_some(),
        "{json}"
    );
    let out = daemon.cratectl(&["tasks", "metrics", "ghost"]).fails();
    assert!(out.stderr.contains("not found"), "{out:?}");
}

#[test]
fn spec_options_reach_the_container() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    let host_dir = daemon.dir().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello.txt"), "from the host\n").unwrap();
    let mount = format!(
        "type=bind,src={},dst=/host,options=rbind:ro",
        host_dir.display()
    );
    let script = "id -u; id -G; echo $FOO; hostname; cat /host/hello.txt; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
                  touch /rootfs-write 2>/dev/null || echo read-only; pwd";
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            "-u",
            "app",
            "-e",
            "FOO=bar",
            "--env",
            "UNUSED=1",
            "--mount",
            &mount,
            "--hostname",
            "box",
            "--memory-limit",
            "64m",
            "--cpus",
            "0.5",
            "--read-only",
            "--cwd",
            "/tmp",
            "--label",
            "a=b",
            "--seccomp",
            rootfs.to_str().unwrap(),
            "o1",
            "sh",
            "-c",
            script,
        ])
        .ok();
    let lines: Vec<String> = out.stdout().lines().map(String::from).collect();
    assert_eq!(
        lines,
        [
            "1000",
            "1000 50",
            "bar",
            "box",
            "from the host",
            "67108864",
            "read-only",
            "/tmp"
        ],
        "{out:?}"
    );

    // --net-host: the host's network namespace and name.
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            "--net-host",
            rootfs.to_str().unwrap(),
            "o2",
            "sh",
            "-c",
            "echo $HOSTNAME; readlink /proc/self/ns/net",
        ])
        .ok();
    assert_eq!(out.stdout(), format!("{host}\n{}\n", ns.display()));

    // --privileged: every host device.
    let out = daemon
        .cratectl(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            "--privileged",
            rootfs.to_str().unwrap(),
            "o3",
            "sh",
            "-c",
            "test -e /dev/null && ls /dev | wc -l",
        ])
        .ok();
    let count: usize = out.stdout().trim().parse().unwrap_or(0);
    assert!(count > 20, "{out:?}");
}

#[test]
fn containers_create_label_info_start_attach_rm() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    daemon
        .cratectl(&[
            "containers",
            "create",
            "--rootfs",
            "--label",
            "app=web",
            rootfs.to_str().unwrap(),
            "c1",
            "sh",
            "-c",
            "read line; echo got:$line; exit 2",
        ])
        .ok();
    let ls = daemon.cratectl(&["containers", "ls"]).ok();
    assert!(
        ls.stdout().starts_with("CONTAINER    IMAGE    RUNTIME"),
        "{ls:?}"
    );
    assert!(ls.stdout().contains("io.containerd.runc.v2"), "{ls:?}");
    let labels = daemon
        .cratectl(&["containers", "label", "c1", "tier=1", "app="])
        .ok();
    assert_eq!(labels.stdout(), "tier=1\n");
    let info: serde_json::Value =
        serde_json::from_str(&daemon.cratectl(&["containers", "info", "c1"]).ok().stdout())
            .unwrap();
    assert_eq!(info["ID"], "c1");
    assert_eq!(info["Runtime"]["Name"], "io.containerd.runc.v2");
    assert_eq!(info["Labels"]["tier"], "1");
    assert_eq!(info["Spec"]["root"]["path"], rootfs.to_str().unwrap());
    assert_eq!(info["Spec"]["linux"]["cgroupsPath"], "/default/c1");
    let spec: serde_json::Value = serde_json::from_str(
        &daemon
            .cratectl(&["containers", "info", "--spec", "c1"])
            .ok()
            .stdout(),
    )
    .unwrap();
    assert_eq!(spec["process"]["args"][0], "sh");

    // tasks start in the foreground: stdin in, output out, exit code.
    let out = daemon.cratectl_stdin(&["tasks", "start", "--fifo-dir", &fifo, "c1"], b"hello\n");
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert_eq!(out.stdout(), "got:hello\n");
    assert!(daemon.ids("tasks").is_empty());

    // Detached start, then attach: stdin reaches it, its exit code is ours.
    daemon
        .cratectl(&["tasks", "start", "-d", "--fifo-dir", &fifo, "c1"])
        .ok();
    let out = daemon.cratectl_stdin(&["tasks", "attach", "c1"], b"world\n");
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert_eq!(out.stdout(), "got:world\n");
    assert!(daemon.ids("tasks").is_empty());

    // rm deletes a stopped task with the container.
    daemon
        .cratectl(&["tasks", "start", "-d", "--null-io", "c1"])
        .ok();
    assert!(wait_until(Duration::from_secs(10), || {
        daemon
            .cratectl(&["tasks", "ls"])
            .ok()
            .stdout()
            .contains("STOPPED")
    }));
    daemon.cratectl(&["containers", "rm", "c1"]).ok();
    assert!(daemon.ids("containers").is_empty());
    assert!(daemon.ids("tasks").is_empty());
}

/// Reads `master` until `want` appears, the other side closes or `until`.
fn read_pty(master: &mut std::fs::File, out: &mut Vec<u8>, want: &str, until: Instant) {
    use std::os::fd::AsFd;
    let mut buf = [0u8; 4096];
    while Instant::now() < until && !String::from_utf8_lossy(out).contains(want) {
        let ready = {
            let mut fds = [nix::poll::PollFd::new(
                master.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16))
        };
        match ready {
            Ok(0) => continue,
            Ok(_) => match master.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            },
            Err(_) => return,
        }
    }
}

#[test]
fn tty_session_through_a_pty() {
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    let size = nix::pty::Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let slave = std::fs::File::from(pty.slave);
    let mut cmd = daemon
        .cratectl_cmd(&[
            "containers",
            "run",
            "--rm",
            "-t",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "tty1",
            "sh",
        ])
        .command();
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().expect("spawn cratectl -t");
    let mut master = std::fs::File::from(pty.master);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    read_pty(&mut master, &mut out, "# ", deadline);
    master.write_all(b"stty size; echo hi\r").unwrap();
    read_pty(&mut master, &mut out, "\nhi", deadline);
    // Ctrl-C reaches the container's shell, not cratectl.
    master.write_all(b"sleep 100\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(&[3]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"exit 5\r").unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(30), "cratectl run -t");
    read_pty(
        &mut master,
        &mut out,
        "\u{0}never",
        Instant::now() + Duration::from_millis(300),
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(status.code(), Some(5), "{text}");
    assert!(text.contains("\r\nhi\r\n"), "{text}");
    assert!(
        text.contains("30 100"),
        "terminal size not forwarded: {text}"
    );
    assert!(text.contains("^C"), "{text}");
    assert!(daemon.ids("containers").is_empty());
}

#[test]
fn signals_to_cratectl_reach_the_container() {
    use std::io::BufRead;
    let daemon = crate::common::daemon();
    let rootfs = daemon.rootfs("rootfs");
    let fifo = fifo_arg(&daemon);
    let mut child = daemon
        .cratectl_cmd(&[
            "containers",
            "run",
            "--rm",
            "--fifo-dir",
            &fifo,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "s1",
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).ok().as_deref(),
        Some("ready")
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).ok().as_deref(),
        Some("got-term")
    );
    let status = wait_bounded(&mut child, Duration::from_secs(30), "cratectl run");
    assert_eq!(status.code(), Some(9));
    assert!(daemon.ids("containers").is_empty());
}
