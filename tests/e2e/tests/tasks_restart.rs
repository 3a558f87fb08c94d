//! Restart recovery: crated SIGKILLed with tasks running reconnects to their
//! shims, and cleans up the tasks whose shims died while it was down.
//!
//! **Needs root** (every test starts a daemon and runs containers with runc;
//! see `crated_e2e::Daemon`).

use std::time::{Duration, Instant};

use crated_e2e::workload::{
    BusyboxRootfs, Cleanup, Shim, ctr_containers, ctr_task_status, ctr_tasks, expect_shim_pid,
    pid_alive, wait_pids_gone,
};
use crated_e2e::{Daemon, Events, wait_until};
use nix::sys::signal::Signal;

const NS: &str = "default";

fn run_detached(daemon: &Daemon, shim: Shim, rootfs: &BusyboxRootfs, id: &str) {
    let mut args: Vec<String> = vec!["run".into(), "-d".into()];
    args.extend(shim.run_flags());
    args.extend(["--rootfs", &rootfs.arg(), id, "/bin/sleep", "300"].map(String::from));
    daemon
        .ctr_cmd(&args)
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
}

/// SIGKILL crated with two tasks running (one per shim), restart it: both
/// are listed RUNNING, exec works in each, they can be killed, waited on
/// (`cratectl tasks wait`) and removed; the container records are intact.
/// Needs root.
#[test]
fn tasks_survive_a_daemon_sigkill() {
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let tasks = [(Shim::Crated, "restart-a"), (Shim::Go, "restart-b")];
    let mut shims = Vec::new();
    for (shim, id) in tasks {
        cleanup.add(id);
        run_detached(&daemon, shim, &rootfs, id);
        let pid = expect_shim_pid(&daemon, NS, id);
        cleanup.shim(pid);
        shims.push(pid);
    }
    daemon
        .ctr(&["containers", "label", "restart-a", "keep=me"])
        .ok();
    let before = ctr_tasks(&daemon, NS);

    daemon.kill9();
    for &pid in &shims {
        assert!(pid_alive(pid), "shim {pid} died with the daemon");
    }
    let started = Instant::now();
    daemon.restart();
    eprintln!("restart took {:?}", started.elapsed());

    let after = ctr_tasks(&daemon, NS);
    for (_, id) in tasks {
        let b = before.iter().find(|t| t.0 == id);
        let a = after.iter().find(|t| t.0 == id);
        assert!(
            a.is_some_and(|a| a.2 == "RUNNING") && a.map(|a| a.1) == b.map(|b| b.1),
            "{id} after restart: {a:?} (before: {b:?})"
        );
    }
    let containers = ctr_containers(&daemon, NS);
    for (_, id) in tasks {
        assert!(
            containers.iter().any(|c| c == id),
            "{id} lost: {containers:?}"
        );
    }
    daemon
        .ctr(&["containers", "info", "restart-a"])
        .ok()
        .stdout_has("keep");

    for (shim, id) in tasks {
        daemon
            .ctr(&[
                "tasks",
                "exec",
                "--exec-id",
                "after",
                id,
                "/bin/echo",
                "still-here",
            ])
            .ok()
            .stdout_has("still-here");
        let waiter = daemon
            .cratectl_cmd(&["tasks", "wait", id])
            .timeout(Duration::from_secs(30))
            .spawn();
        std::thread::sleep(Duration::from_millis(300));
        daemon.ctr(&["tasks", "kill", "-s", "KILL", id]).ok();
        let out = waiter.wait(Duration::from_secs(30));
        assert!(
            out.succeeded() && out.stdout().contains("137"),
            "{}: wait after restart: {out}",
            shim.name()
        );
        daemon.ctr(&["tasks", "rm", id]).ok();
        daemon.ctr(&["containers", "rm", id]).ok();
    }
    assert!(ctr_tasks(&daemon, NS).is_empty());
    let left = wait_pids_gone(&shims, Duration::from_secs(10));
    assert!(left.is_empty(), "shims left: {left:?}");
    daemon.assert_serving();
}

/// A shim SIGKILLed while crated is down: after the restart its task is
/// cleaned up (gone, or listed STOPPED and removable), `/tasks/exit` is
/// published if a subscriber can see it, and the other task still works.
/// Needs root.
#[test]
fn dead_shim_while_daemon_down_is_cleaned_up() {
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    for id in ["alive", "orphan"] {
        cleanup.add(id);
        run_detached(&daemon, Shim::Crated, &rootfs, id);
    }
    let alive_shim = expect_shim_pid(&daemon, NS, "alive");
    let orphan_shim = expect_shim_pid(&daemon, NS, "orphan");
    cleanup.shim(alive_shim);
    cleanup.shim(orphan_shim);
    let orphan_init = ctr_tasks(&daemon, NS)
        .into_iter()
        .find(|t| t.0 == "orphan")
        .map(|t| t.1)
        .unwrap_or_else(|| panic!("orphan is not listed"));
    cleanup.shim(orphan_init);

    daemon.kill9();
    crated_e2e::cmd::signal_pid(orphan_shim, Signal::SIGKILL);
    assert!(
        wait_pids_gone(&[orphan_shim], Duration::from_secs(5)).is_empty(),
        "shim {orphan_shim} survived SIGKILL"
    );
    daemon.restart();
    // Subscribe right away: the exit may be published during recovery
    // (before this subscription) or when the task is looked at.
    let events = Events::start(&daemon);
    eprintln!(
        "orphan after restart: {:?}",
        ctr_task_status(&daemon, NS, "orphan")
    );

    let cleaned = wait_until(Duration::from_secs(15), || {
        !matches!(
            ctr_task_status(&daemon, NS, "orphan").as_deref(),
            Some("RUNNING") | Some("PAUSED") | Some("CREATED")
        )
    });
    assert!(
        cleaned,
        "the task of a dead shim is still listed: {:?}",
        ctr_tasks(&daemon, NS)
    );
    if ctr_task_status(&daemon, NS, "orphan").is_some() {
        daemon.ctr(&["tasks", "rm", "-f", "orphan"]).ok();
    }
    assert_eq!(ctr_task_status(&daemon, NS, "orphan"), None);
    eprintln!(
        "/tasks/exit for the orphan seen after restart: {}",
        events
            .events()
            .iter()
            .any(|(_, t, p)| t == "/tasks/exit" && p.contains("orphan"))
    );
    // Its container's processes went with the cleanup (as containerd's
    // `shim delete` cleanup does with `runc delete --force`).
    let left = wait_pids_gone(&[orphan_init], Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "the init process {orphan_init} of the dead shim's task still runs"
    );
    // The container record stays and can be removed.
    assert!(ctr_containers(&daemon, NS).iter().any(|c| c == "orphan"));
    daemon.ctr(&["containers", "rm", "orphan"]).ok();

    assert_eq!(
        ctr_task_status(&daemon, NS, "alive").as_deref(),
        Some("RUNNING")
    );
    daemon
        .ctr(&[
            "tasks",
            "exec",
            "--exec-id",
            "x",
            "alive",
            "/bin/echo",
            "ok",
        ])
        .ok()
        .stdout_has("ok");
    daemon.ctr(&["tasks", "kill", "-s", "KILL", "alive"]).ok();
    let stopped = wait_until(Duration::from_secs(10), || {
        ctr_task_status(&daemon, NS, "alive").as_deref() == Some("STOPPED")
    });
    assert!(stopped, "alive did not stop");
    daemon.ctr(&["tasks", "rm", "alive"]).ok();
    daemon.ctr(&["containers", "rm", "alive"]).ok();
    assert!(wait_pids_gone(&[alive_shim], Duration::from_secs(10)).is_empty());
    events.stop();
    daemon.assert_serving();
}
