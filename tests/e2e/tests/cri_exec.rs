//! Running commands in pod containers through the CRI on a real crated:
//! ExecSync (output, exit code, timeout, a stopped container), Exec,
//! Attach and PortForward over the streaming server with the library's SPDY client,
//! and GetContainerEvents following a container's life.
//!
//! **Needs root** (a daemon, runc, namespaces, links, mounts).

use std::time::Duration;

use crated_api::cri::{self, ContainerEventType, NamespaceMode};
use crated_api::tonic;
use crated_cri::streaming::client::{SpdyClient, upgrade};
use crated_e2e::client::{connect_with, runtime};
use crated_e2e::cri::{Network, container, pod_config, run_pod, start_container, wait_exited};
use futures::StreamExt;

const SERVER: &str =
    "mkdir -p /tmp/www && echo pong > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www";

/// Upgrades `url` to SPDY with `protocol`, opens one stream per entry of
/// `streams` (ids 1, 3, 5, …), sends `data` on stream 3 (`fin` closes it)
/// and waits until the server has finished the streams `wait`.
async fn session(
    url: &str,
    protocol: &str,
    streams: &[&[(&str, &str)]],
    (data, fin): (&[u8], bool),
    wait: &[u32],
) -> SpdyClient {
    let up = upgrade(url, &[protocol], "SPDY/3.1")
        .await
        .unwrap_or_else(|e| panic!("upgrading {url}: {e}"));
    assert_eq!(up.status, 101, "{}", up.head);
    let mut spdy = SpdyClient::new(up.conn).unwrap_or_else(|e| panic!("{e}"));
    for (i, headers) in streams.iter().enumerate() {
        let id = u32::try_from(2 * i + 1).unwrap_or(1);
        spdy.open(id, headers)
            .await
            .unwrap_or_else(|e| panic!("opening stream {id}: {e}"));
    }
    spdy.send(3, data, fin)
        .await
        .unwrap_or_else(|e| panic!("sending: {e}"));
    spdy.until_finished(wait, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{protocol} session: {e}"));
    spdy
}

/// ExecSync returns stdout, stderr and the exit code; a command over its
/// timeout is killed and answered DeadlineExceeded; Exec streams stdin to
/// `cat` and back over SPDY; PortForward reaches the pod's server on its
/// loopback; GetContainerEvents sees created, started, stopped and deleted;
/// ExecSync in a stopped container is refused. Needs root.
#[test]
fn cri_exec_sync_exec_port_forward_and_container_events() {
    let network = Network::new(3);
    let daemon = network.daemon();
    runtime().block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let mut rt = client.cri_runtime();
        let mut events = client
            .cri_runtime()
            .get_container_events(cri::GetEventsRequest {})
            .await
            .unwrap_or_else(|e| panic!("GetContainerEvents: {e}"))
            .into_inner();
        let config = pod_config("exec", NamespaceMode::Pod as i32);
        let pod = run_pod(&client, &config).await;
        let server = start_container(&client, &pod, &config, container("server", SERVER)).await;

        let out = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: server.clone(),
                cmd: ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"]
                    .map(String::from)
                    .to_vec(),
                timeout: 30,
            })
            .await
            .unwrap_or_else(|e| panic!("ExecSync: {e}"))
            .into_inner();
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
            (&b"out\n"[..], &b"err\n"[..], 7)
        );
        let err = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: server.clone(),
                cmd: ["/bin/sleep", "30"].map(String::from).to_vec(),
                timeout: 1,
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("an ExecSync over its timeout succeeded"));
        assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");

        // Exec over SPDY (v4.channel.k8s.io): stdin to cat, back on stdout.
        let url = rt
            .exec(cri::ExecRequest {
                container_id: server.clone(),
                cmd: vec!["cat".into()],
                tty: false,
                stdin: true,
                stdout: true,
                stderr: false,
            })
            .await
            .unwrap_or_else(|e| panic!("Exec: {e}"))
            .into_inner()
            .url;
        let spdy = session(
            &url,
            "v4.channel.k8s.io",
            &[&[("streamtype", "error")], &[("streamtype", "stdin")], &[("streamtype", "stdout")]],
            (b"through the pod\n", true),
            &[1, 5],
        )
        .await;
        assert_eq!(spdy.text(5), "through the pod\n");
        assert_eq!(spdy.text(1), r#"{"metadata":{},"status":"Success"}"#);

        // PortForward to the server on the pod's loopback (not the host's).
        let url = rt
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: pod.clone(),
                port: vec![8080],
            })
            .await
            .unwrap_or_else(|e| panic!("PortForward: {e}"))
            .into_inner()
            .url;
        let port = [("port", "8080"), ("requestid", "0")];
        let spdy = session(
            &url,
            "portforward.k8s.io",
            &[&[("streamtype", "error"), port[0], port[1]], &[("streamtype", "data"), port[0], port[1]]],
            (b"GET /index.html HTTP/1.0\r\n\r\n", false),
            &[3],
        )
        .await;
        let reply = spdy.text(3);
        assert!(
            reply.starts_with("HTTP/1.") && reply.ends_with("pong\n"),
            "{reply:?}"
        );

        // Stats: a busy container's CPU time grows and gets a rate; the
        // pod's stats sum its containers.
        let busy = start_container(
            &client,
            &pod,
            &config,
            container("busy", "while :; do :; done"),
        )
        .await;
        let sample = |id: String| {
            let mut rt = client.cri_runtime();
            async move {
                rt.container_stats(cri::ContainerStatsRequest { container_id: id })
                    .await
                    .unwrap_or_else(|e| panic!("ContainerStats: {e}"))
                    .into_inner()
                    .stats
                    .unwrap_or_default()
            }
        };
        let first = sample(busy.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let second = sample(busy.clone()).await;
        let cpu = |s: &cri::ContainerStats| {
            s.cpu
                .as_ref()
                .and_then(|c| c.usage_core_nano_seconds.as_ref())
                .map_or(0, |v| v.value)
        };
        assert!(
            cpu(&second) > cpu(&first) && cpu(&first) > 0,
            "{first:?} {second:?}"
        );
        let rate = second
            .cpu
            .as_ref()
            .and_then(|c| c.usage_nano_cores.as_ref())
            .map_or(0, |v| v.value);
        assert!(rate > 0, "no CPU rate on the second sample: {second:?}");
        let memory = second
            .memory
            .as_ref()
            .and_then(|m| m.working_set_bytes.as_ref())
            .map_or(0, |v| v.value);
        assert!(memory > 0, "{second:?}");
        let pods = rt
            .list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("ListPodSandboxStats: {e}"))
            .into_inner()
            .stats;
        let linux = pods
            .iter()
            .find(|p| p.attributes.as_ref().is_some_and(|a| a.id == pod))
            .and_then(|p| p.linux.clone())
            .unwrap_or_else(|| panic!("pod {pod} not in {pods:?}"));
        let ids: Vec<String> = linux
            .containers
            .iter()
            .filter_map(|c| c.attributes.as_ref().map(|a| a.id.clone()))
            .collect();
        assert!(ids.contains(&busy) && ids.contains(&server), "{ids:?}");
        rt.stop_container(cri::StopContainerRequest {
            container_id: busy.clone(),
            timeout: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}"));

        // Attach over SPDY to a container created with stdin (stdin_once):
        // what is sent reaches its cat, comes back on stdout, and the end of
        // stdin ends it.
        let mut catter = container("catter", "exec cat");
        catter.stdin = true;
        catter.stdin_once = true;
        let catter = start_container(&client, &pod, &config, catter).await;
        let url = rt
            .attach(cri::AttachRequest {
                container_id: catter.clone(),
                stdin: true,
                tty: false,
                stdout: true,
                stderr: true,
            })
            .await
            .unwrap_or_else(|e| panic!("Attach: {e}"))
            .into_inner()
            .url;
        let spdy = session(
            &url,
            "v4.channel.k8s.io",
            &[
                &[("streamtype", "error")],
                &[("streamtype", "stdin")],
                &[("streamtype", "stdout")],
                &[("streamtype", "stderr")],
            ],
            (b"attached\n", true),
            &[1, 5],
        )
        .await;
        assert_eq!(spdy.text(5), "attached\n");
        let done = wait_exited(&client, &catter).await;
        assert_eq!(done.exit_code, 0, "{done:?}");

        // A new memory limit reaches the running container's cgroup.
        rt.update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: server.clone(),
            linux: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 96 * 1024 * 1024,
                ..cri::LinuxContainerResources::default()
            }),
            ..cri::UpdateContainerResourcesRequest::default()
        })
        .await
        .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}"));
        let limit = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: server.clone(),
                cmd: ["/bin/sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]
                    .map(String::from)
                    .to_vec(),
                timeout: 30,
            })
            .await
            .unwrap_or_else(|e| panic!("ExecSync: {e}"))
            .into_inner();
        assert_eq!(String::from_utf8_lossy(&limit.stdout).trim(), (96 * 1024 * 1024).to_string());

        // Over its memory limit: OOMKilled.
        let mut hog = container(
            "hog",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
        );
        hog.linux = Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 32 * 1024 * 1024,
                ..cri::LinuxContainerResources::default()
            }),
            security_context: None,
        });
        let hog = start_container(&client, &pod, &config, hog).await;
        let killed = wait_exited(&client, &hog).await;
        assert_eq!(
            (killed.exit_code, killed.reason.as_str()),
            (137, "OOMKilled"),
            "{killed:?}"
        );

        rt.stop_container(cri::StopContainerRequest {
            container_id: server.clone(),
            timeout: 2,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}"));
        wait_exited(&client, &server).await;
        let err = rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: server.clone(),
                cmd: vec!["true".into()],
                timeout: 5,
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("ExecSync in a stopped container succeeded"));
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
        rt.remove_container(cri::RemoveContainerRequest {
            container_id: server.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}"));

        let mut seen = Vec::new();
        while seen.len() < 4 {
            let next = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .unwrap_or_else(|_| panic!("no more container events after {seen:?}"))
                .unwrap_or_else(|| panic!("the event stream ended after {seen:?}"))
                .unwrap_or_else(|e| panic!("event stream: {e}"));
            if next.container_id == server {
                seen.push(ContainerEventType::try_from(next.container_event_type).ok());
            }
        }
        assert_eq!(
            seen,
            [
                ContainerEventType::ContainerCreatedEvent,
                ContainerEventType::ContainerStartedEvent,
                ContainerEventType::ContainerStoppedEvent,
                ContainerEventType::ContainerDeletedEvent,
            ]
            .map(Some)
        );
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));
    });
}
