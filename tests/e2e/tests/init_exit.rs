//! The exit of a container's init as the shim reports it: in a container
//! without its own pid namespace the rest of its processes are killed
//! before the exit is reported, so by the time `Wait` returns none of them
//! can still run; an exec whose start races the init's death is reported
//! (started and exited, or refused as the init is gone), and the init's
//! exit comes after the exits of the execs that started.
//!
//! **Needs root** (starts a daemon and runs containers with runc; see
//! `crated_e2e::Daemon`).

use std::time::Duration;

use crated_client::Client;
use crated_client::container::{NewContainer, Rootfs};
use crated_client::events::{EventStream, KnownEvent};
use crated_client::spec::{OciSpec, SpecBuilder, SpecContext, process_to_any};
use crated_client::tasks::Stdio;
use crated_e2e::Daemon;
use crated_e2e::client::runtime;
use crated_e2e::workload::{BusyboxRootfs, Cleanup, expect_shim_pid};
use futures::StreamExt;

const NS: &str = "init-exit";
const SIGKILL: u32 = 9;

/// A client in the tests' namespace.
async fn connect(daemon: &Daemon) -> Client {
    crated_e2e::client::connect(daemon).await.namespace(NS)
}

/// Joins the host's pid namespace instead of creating one.
fn host_pid(_: &SpecContext<'_>, spec: &mut OciSpec) -> crated_client::spec::Result<()> {
    let mut value = serde_json::to_value(&*spec).unwrap_or_else(|e| panic!("spec to JSON: {e}"));
    let namespaces = value
        .pointer_mut("/linux/namespaces")
        .and_then(|n| n.as_array_mut())
        .unwrap_or_else(|| panic!("the spec has no linux.namespaces"));
    namespaces.retain(|ns| ns["type"] != "pid");
    *spec = serde_json::from_value(value).unwrap_or_else(|e| panic!("spec from JSON: {e}"));
    Ok(())
}

/// Whether `pid` can no longer run: gone, a zombie, or with a SIGKILL
/// already pending (the kernel delivers it before the process runs again).
fn cannot_run(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
    };
    let sigkill_bit = 1u64 << (SIGKILL - 1);
    let pending = |name: &str| u64::from_str_radix(field(name), 16).unwrap_or(0) & sigkill_bit != 0;
    field("State:").starts_with('Z')
        || field("State:").starts_with('X')
        || pending("SigPnd:")
        || pending("ShdPnd:")
}

/// A host-pid container whose init forks a `sleep`; SIGKILL to the init
/// alone; when `Wait` returns, the `sleep` is already killed. Needs root.
#[test]
fn host_pid_container_children_die_before_the_init_exit_is_reported() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let id = "host-pid-init";
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(id);
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let spec = SpecBuilder::new(NS, id)
            .default_path_env()
            .args(["/bin/sh", "-c", "sleep 1000 & wait"])
            .with(host_pid);
        let container = client
            .create_container(
                NewContainer::new(id, Rootfs::Directory(rootfs.path())),
                spec,
            )
            .await
            .unwrap_or_else(|e| panic!("create_container: {e}"));
        let init = client
            .create_task(&container, Stdio::default())
            .await
            .unwrap_or_else(|e| panic!("create_task: {e}"));
        cleanup.shim(expect_shim_pid(&daemon, NS, id));
        client
            .tasks()
            .start(id, "")
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let mut children = Vec::new();
        for _ in 0..200 {
            let pids = client
                .tasks()
                .pids(id)
                .await
                .unwrap_or_else(|e| panic!("pids: {e}"));
            children = pids.iter().map(|p| p.pid).filter(|p| *p != init).collect();
            if !children.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !children.is_empty(),
            "the init {init} never forked its sleep"
        );
        let tasks = client.tasks();
        let waiting = tasks.wait(id, "");
        client
            .tasks()
            .kill(id, "", SIGKILL, false)
            .await
            .unwrap_or_else(|e| panic!("kill init: {e}"));
        let status = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .unwrap_or_else(|_| panic!("wait timed out"))
            .unwrap_or_else(|e| panic!("wait: {e}"));
        let alive: Vec<u32> = children
            .iter()
            .copied()
            .filter(|p| !cannot_run(*p))
            .collect();
        assert!(
            alive.is_empty(),
            "init exited ({}) but its children {alive:?} still run",
            status.code
        );
        assert_eq!(status.code, 128 + SIGKILL);
        client
            .tasks()
            .delete(id)
            .await
            .unwrap_or_else(|e| panic!("delete task: {e}"));
        client
            .delete_container(id, false)
            .await
            .unwrap_or_else(|e| panic!("delete container: {e}"));
    });
}

/// The next task event of container `id` on `events` (bounded).
async fn next_task_event(events: &mut EventStream, id: &str) -> KnownEvent {
    loop {
        let envelope = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap_or_else(|_| panic!("no task event of {id} within 30 s"))
            .unwrap_or_else(|| panic!("the event stream ended"))
            .unwrap_or_else(|e| panic!("event stream: {e}"));
        let event = envelope
            .decode()
            .unwrap_or_else(|e| panic!("decoding {envelope:?}: {e}"));
        let of_id = match &event {
            Some(KnownEvent::TaskStart(e)) => e.container_id == id,
            Some(KnownEvent::TaskExit(e)) => e.container_id == id,
            _ => false,
        };
        if let (true, Some(event)) = (of_id, event) {
            return event;
        }
    }
}

/// An exec's start racing SIGKILL to the init, again and again, in
/// containers with and without their own pid namespace: an exec whose start
/// was accepted either starts (then it exits, and its exit is published
/// before the init's) or is refused for a reason other than the init's
/// state machine ("cannot exec in a stopped state"); the init's exit is
/// always reported. Needs root.
#[test]
fn exec_racing_the_init_death_is_reported_with_the_exit() {
    const ATTEMPTS: u64 = 12;
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let mut events = client
            .events()
            .subscribe(&["topic~=\"/tasks/\"".to_string()])
            .await
            .unwrap_or_else(|e| panic!("subscribe: {e}"));
        let (mut started, mut refused) = (0, 0);
        for attempt in 0..ATTEMPTS {
            let id = format!("exec-race-{attempt}");
            cleanup.add(id.clone());
            let mut spec = SpecBuilder::new(NS, &id)
                .default_path_env()
                .args(["/bin/sleep", "1000"]);
            if attempt % 2 == 0 {
                spec = spec.with(host_pid);
            }
            let container = client
                .create_container(
                    NewContainer::new(&id, Rootfs::Directory(rootfs.path())),
                    spec,
                )
                .await
                .unwrap_or_else(|e| panic!("create_container {id}: {e}"));
            client
                .create_task(&container, Stdio::default())
                .await
                .unwrap_or_else(|e| panic!("create_task {id}: {e}"));
            cleanup.shim(expect_shim_pid(&daemon, NS, &id));
            client
                .tasks()
                .start(&id, "")
                .await
                .unwrap_or_else(|e| panic!("start {id}: {e}"));
            // The subscription is live once it delivers this start.
            let first = next_task_event(&mut events, &id).await;
            assert!(matches!(first, KnownEvent::TaskStart(_)), "{first:?}");
            let process = SpecBuilder::new(NS, &id)
                .default_path_env()
                .args(["/bin/sleep", "1000"])
                .build()
                .unwrap_or_else(|e| panic!("exec spec: {e}"))
                .process()
                .clone()
                .unwrap_or_else(|| panic!("the spec has no process"));
            let any = process_to_any(&process).unwrap_or_else(|e| panic!("exec spec: {e}"));
            client
                .tasks()
                .exec(&id, "e", any, Stdio::default())
                .await
                .unwrap_or_else(|e| panic!("exec {id}: {e}"));
            // Spread the kill over the exec's start, a little later each time.
            let delay = Duration::from_millis(attempt * 8);
            let tasks = client.tasks();
            let (start, kill) = tokio::join!(tasks.start(&id, "e"), async {
                tokio::time::sleep(delay).await;
                client.tasks().kill(&id, "", SIGKILL, false).await
            });
            kill.unwrap_or_else(|e| panic!("kill {id}: {e}"));
            match &start {
                Ok(_) => started += 1,
                Err(e) => {
                    refused += 1;
                    assert!(
                        !e.to_string().contains("cannot exec in a stopped state"),
                        "{id}: an accepted exec was refused by the state machine: {e}"
                    );
                }
            }
            let mut exec_exit_seen = false;
            loop {
                match next_task_event(&mut events, &id).await {
                    KnownEvent::TaskExit(e) if e.id == "e" => exec_exit_seen = true,
                    KnownEvent::TaskExit(e) if e.id == id => {
                        assert_eq!(e.exit_status, 128 + SIGKILL, "{id}: {e:?}");
                        break;
                    }
                    _ => {}
                }
            }
            if start.is_ok() {
                assert!(
                    exec_exit_seen,
                    "{id}: the init's exit was published before the exit of its started exec"
                );
                let exec =
                    tokio::time::timeout(Duration::from_secs(30), client.tasks().wait(&id, "e"))
                        .await
                        .unwrap_or_else(|_| panic!("{id}: the started exec never exited"))
                        .unwrap_or_else(|e| panic!("wait exec {id}: {e}"));
                assert_ne!(exec.code, 0, "{id}: the exec was killed, not finished");
            }
            let _ = client.tasks().delete_process(&id, "e").await;
            client
                .tasks()
                .delete(&id)
                .await
                .unwrap_or_else(|e| panic!("delete task {id}: {e}"));
            client
                .delete_container(&id, false)
                .await
                .unwrap_or_else(|e| panic!("delete container {id}: {e}"));
        }
        eprintln!("{started} execs started, {refused} refused in {ATTEMPTS} races");
    });
}
