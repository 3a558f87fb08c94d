//! CRI containers end to end, below the gRPC services: the plugin's
//! container lifecycle (`crated_cri::container::lifecycle`) drives a real
//! crated in namespace `k8s.io`, inside a stand-in pod whose pause process
//! is `unshare --net --ipc --uts` running `sleep` (its namespaces are what a
//! container joins). Logs in the CRI format with partial lines, exit code
//! and reason, stop with the timeout then SIGKILL, the events of each step,
//! and nothing left after removal.
//!
//! **Needs root** (a daemon, runc, namespaces).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crated_api::cri::{
    ContainerConfig, ContainerEventType, ContainerMetadata, ImageSpec, LinuxContainerConfig,
    LinuxContainerSecurityContext, NamespaceMode, NamespaceOption,
};
use crated_client::containers::Runtime;
use crated_client::{Client, ConnectOptions};
use crated_cri::container::lifecycle::{self, CreateOptions};
use crated_cri::container::store::ContainerStore;
use crated_cri::container::{PodContext, SpecOptions};
use crated_e2e::Daemon;
use crated_e2e::workload::BusyboxRootfs;

const IMAGE: &str = "docker.io/library/cri-busybox:test";

/// The stand-in pause process, killed on drop.
struct Pause(Child);

impl Drop for Pause {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..ImageSpec::default()
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        linux: Some(LinuxContainerConfig {
            resources: None,
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(NamespaceOption {
                    pid: NamespaceMode::Container as i32,
                    ..NamespaceOption::default()
                }),
                ..LinuxContainerSecurityContext::default()
            }),
        }),
        ..ContainerConfig::default()
    }
}

#[test]
fn cri_container_lifecycle_logs_exit_reason_stop_and_events() {
    crated_e2e::root::require_root("runs containers with runc in namespaces");
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let tar = rootfs.oci_image_tar(IMAGE);
    daemon
        .cratectl_cmd(&["-n", "k8s.io", "images", "import"])
        .args([&tar])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let pause = Pause(
        Command::new("unshare")
            .args([
                "--net",
                "--ipc",
                "--uts",
                "sh",
                "-c",
                "hostname pod-e2e && exec sleep 300",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the stand-in pause process: {e}")),
    );
    // The pod's hostname is set in its UTS namespace before anything joins it.
    let comm = format!("/proc/{}/comm", pause.0.id());
    assert!(
        crated_e2e::wait_until(Duration::from_secs(30), || std::fs::read_to_string(&comm)
            .is_ok_and(|c| c.trim() == "sleep")),
        "the stand-in pause process did not get to sleep"
    );
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let pod = PodContext {
        sandbox_id: "sandbox-e2e".into(),
        pod_name: "pod".into(),
        pod_namespace: "default".into(),
        pod_uid: "uid-e2e".into(),
        pause_pid: pause.0.id(),
        hostname: "pod-e2e".into(),
        log_directory: work.path().join("logs").to_string_lossy().into_owned(),
        ..PodContext::default()
    };
    let options = CreateOptions {
        runtime: Runtime {
            name: "io.containerd.runc.v2".into(),
            options: None,
        },
        snapshotter: "overlayfs".into(),
        root: work.path().join("containers"),
        spec: SpecOptions::probe(),
        ignore_image_volumes: false,
    };
    let fifo_root = work.path().join("fifo");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
        .block_on(async {
            let client = Client::connect(daemon.socket(), ConnectOptions::default())
                .await
                .unwrap_or_else(|e| panic!("connecting: {e}"))
                .namespace("k8s.io");
            let store = Arc::new(ContainerStore::default());
            let mut events = store.subscribe();

            // A container that prints (one line over the 8-byte limit) and fails.
            let script = "echo hello; echo 0123456789ab; echo oops >&2; hostname; exit 3";
            let failing = lifecycle::create(
                &client,
                &store,
                &pod,
                &config("fails", &["/bin/sh", "-c", script]),
                &options,
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
            lifecycle::start(&client, &store, &failing, &fifo_root, 8)
                .await
                .unwrap_or_else(|e| panic!("start: {e}"));
            let mut exited = failing.exited.subscribe();
            tokio::time::timeout(Duration::from_secs(60), exited.wait_for(|e| *e))
                .await
                .unwrap_or_else(|_| panic!("the container did not exit"))
                .unwrap_or_else(|e| panic!("exit watch: {e}"));
            let status = failing.status();
            assert_eq!(
                (status.exit_code, status.reason.as_str()),
                (3, "Error"),
                "{status:?}"
            );
            assert!(status.started_at > 0 && status.finished_at >= status.started_at);
            // The log copier may still be draining when the exit is recorded.
            let log_path = failing.meta.log_path.clone();
            let want = [
                "stdout F hello",
                "stdout P 01234567",
                "stdout F 89ab",
                "stderr F oops",
                "stdout F pod-e2e",
            ];
            let mut records = Vec::new();
            for _ in 0..600 {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                records = text
                    .lines()
                    .map(|l| l.split_once(' ').map_or("", |x| x.1).to_string())
                    .collect::<Vec<_>>();
                if records.len() >= want.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut stdout: Vec<&String> =
                records.iter().filter(|r| r.starts_with("stdout")).collect();
            stdout.sort();
            let mut want_stdout: Vec<&str> = want
                .iter()
                .copied()
                .filter(|r| r.starts_with("stdout"))
                .collect();
            want_stdout.sort();
            assert_eq!(stdout, want_stdout, "log records: {records:?}");
            assert!(records.iter().any(|r| r == "stderr F oops"), "{records:?}");

            // A container that ignores SIGTERM (sleep as PID 1): stopped by SIGKILL after the timeout.
            let sleeper = lifecycle::create(
                &client,
                &store,
                &pod,
                &config("sleeps", &["/bin/sleep", "300"]),
                &options,
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
            lifecycle::start(&client, &store, &sleeper, &fifo_root, 0)
                .await
                .unwrap_or_else(|e| panic!("start: {e}"));
            assert!(
                lifecycle::create(
                    &client,
                    &store,
                    &pod,
                    &config("sleeps", &["/bin/true"]),
                    &options
                )
                .await
                .is_err(),
                "a second container with the same name in the pod was accepted"
            );
            lifecycle::stop(&client, &sleeper, Duration::from_secs(1))
                .await
                .unwrap_or_else(|e| panic!("stop: {e}"));
            let status = sleeper.status();
            assert_eq!(
                (status.exit_code, status.reason.as_str()),
                (137, "Error"),
                "{status:?}"
            );

            for entry in [&failing, &sleeper] {
                lifecycle::remove(&client, &store, entry, &options.root)
                    .await
                    .unwrap_or_else(|e| panic!("remove: {e}"));
            }
            assert!(store.list().is_empty());
            let left = client
                .containers()
                .list(&[])
                .await
                .unwrap_or_else(|e| panic!("list: {e}"));
            assert!(left.is_empty(), "containers left: {left:?}");
            let tasks = client
                .tasks()
                .list()
                .await
                .unwrap_or_else(|e| panic!("tasks: {e}"));
            assert!(tasks.is_empty(), "tasks left: {tasks:?}");

            let mut seen = Vec::new();
            while let Ok(ev) = events.try_recv() {
                seen.push((ev.container_id, ev.container_event_type));
            }
            for entry in [&failing, &sleeper] {
                let kinds: Vec<i32> = seen
                    .iter()
                    .filter(|(id, _)| *id == entry.meta.id)
                    .map(|(_, k)| *k)
                    .collect();
                assert_eq!(
                    kinds,
                    [
                        ContainerEventType::ContainerCreatedEvent as i32,
                        ContainerEventType::ContainerStartedEvent as i32,
                        ContainerEventType::ContainerStoppedEvent as i32,
                        ContainerEventType::ContainerDeletedEvent as i32,
                    ],
                    "events of {}",
                    entry.meta.id
                );
            }
        });
    drop(pause);
}
