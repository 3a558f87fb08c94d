//! The exit of a container's init as the shim reports it: in a container
//! without its own pid namespace the rest of its processes are killed
//! before the exit is reported, so by the time `Wait` returns none of them
//! can still run.
//!
//! **Needs root** (starts a daemon and runs containers with runc; see
//! `crated_e2e::Daemon`).

use std::time::Duration;

use crated_client::container::{NewContainer, Rootfs};
use crated_client::spec::{OciSpec, SpecBuilder, SpecContext};
use crated_client::tasks::Stdio;
use crated_client::{Client, ConnectOptions};
use crated_e2e::workload::{BusyboxRootfs, Cleanup, expect_shim_pid};
use crated_e2e::Daemon;

const NS: &str = "init-exit";
const SIGKILL: u32 = 9;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

async fn connect(daemon: &Daemon) -> Client {
    #[allow(clippy::needless_update)]
    let options = ConnectOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        request_timeout: Some(Duration::from_secs(30)),
        ..ConnectOptions::default()
    };
    Client::connect(daemon.socket(), options)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", daemon.socket().display()))
        .namespace(NS)
}

/// Joins the host's pid namespace instead of creating one.
fn host_pid(_: &SpecContext<'_>, spec: &mut OciSpec) -> crated_client::spec::Result<()> {
    let mut value = serde_json::to_value(&*spec).unwrap_or_else(|e| panic!("spec to JSON: {e}"));
    let namespaces = value
        .pointer_mut("/linux/namespaces")
        .and_then(|n| n.as_array_mut())
        .unwrap_or_else(|| panic!("the spec has no linux.namespaces: {value}"));
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
        assert!(!children.is_empty(), "the init {init} never forked its sleep");
        let waiting = client.tasks().wait(id, "");
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
