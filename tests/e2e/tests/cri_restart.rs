//! Restart recovery of the CRI plugin: crated is SIGKILLed with two
//! running pods; after it starts again both pods and their containers are
//! still listed and managed, an exit that happened while it was down is
//! reported with its code, a running container still takes ExecSync and
//! stops, and removing the pods leaves no netns or mount behind.
//!
//! **Needs root** (a daemon, runc, namespaces, links, mounts).

use std::time::Duration;

use crated_api::cri::{self, ContainerState, NamespaceMode, PodSandboxState};
use crated_e2e::client::{connect_with, runtime};
use crated_e2e::cri::{
    Network, container, container_status, pod_config, run_pod, sandbox_status, start_container,
    wait_exited,
};
use crated_e2e::workload::mounts_under;

/// Two pods survive a SIGKILL of crated, with their containers' states,
/// an unseen exit's code, ExecSync and teardown. Needs root.
#[test]
fn cri_pods_survive_a_sigkill_of_the_daemon() {
    let network = Network::new(4);
    let mut daemon = network.daemon();
    let marker = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let release = marker.path().join("go");
    let rt = runtime();
    let (pods, sleeper, quitter) = rt.block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let a = pod_config("keep-a", NamespaceMode::Pod as i32);
        let b = pod_config("keep-b", NamespaceMode::Pod as i32);
        let pod_a = run_pod(&client, &a).await;
        let pod_b = run_pod(&client, &b).await;
        let sleeper =
            start_container(&client, &pod_a, &a, container("sleeper", "exec sleep 300")).await;
        // Exits with 4 once the test lets it: while crated is down.
        let mut quit = container(
            "quitter",
            "while [ ! -e /release/go ]; do sleep 0.1; done; exit 4",
        );
        quit.mounts.push(cri::Mount {
            container_path: "/release".into(),
            host_path: marker.path().display().to_string(),
            ..cri::Mount::default()
        });
        let quitter = start_container(&client, &pod_b, &b, quit).await;
        (vec![pod_a, pod_b], sleeper, quitter)
    });

    daemon.kill9();
    std::fs::write(&release, "").unwrap_or_else(|e| panic!("writing {}: {e}", release.display()));
    std::thread::sleep(Duration::from_secs(1));
    daemon.restart();

    rt.block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let mut rt = client.cri_runtime();
        let listed = rt
            .list_pod_sandbox(cri::ListPodSandboxRequest::default())
            .await
            .unwrap_or_else(|e| panic!("ListPodSandbox: {e}"))
            .into_inner()
            .items;
        let mut ids: Vec<String> = listed.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        let mut want = pods.clone();
        want.sort();
        assert_eq!(ids, want, "{listed:?}");
        for pod in &pods {
            let status = sandbox_status(&client, pod)
                .await
                .status
                .unwrap_or_default();
            assert_eq!(
                status.state,
                PodSandboxState::SandboxReady as i32,
                "{status:?}"
            );
            assert!(
                !status.network.unwrap_or_default().ip.is_empty(),
                "pod {pod} lost its IP over the restart"
            );
        }
        let quit = wait_exited(&client, &quitter).await;
        assert_eq!(
            (quit.exit_code, quit.reason.as_str()),
            (4, "Error"),
            "{quit:?}"
        );
        let running = container_status(&client, &sleeper).await;
        assert_eq!(
            running.state,
            ContainerState::ContainerRunning as i32,
            "{running:?}"
        );
        let out = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: sleeper.clone(),
                cmd: vec!["echo".into(), "still here".into()],
                timeout: 30,
            })
            .await
            .unwrap_or_else(|e| panic!("ExecSync after the restart: {e}"))
            .into_inner();
        assert_eq!(out.stdout, b"still here\n");
        for pod in &pods {
            rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("StopPodSandbox after the restart: {e}"));
        }
        let stopped = container_status(&client, &sleeper).await;
        assert_eq!(
            stopped.state,
            ContainerState::ContainerExited as i32,
            "{stopped:?}"
        );
        for pod in &pods {
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemovePodSandbox after the restart: {e}"));
        }
    });
    let netns = daemon.state().join("io.containerd.grpc.v1.cri/netns");
    let pins = std::fs::read_dir(&netns).map(|d| d.count()).unwrap_or(0);
    assert_eq!(pins, 0, "netns pins left in {}", netns.display());
    assert_eq!(mounts_under(&[daemon.state()]), Vec::<String>::new());
}
