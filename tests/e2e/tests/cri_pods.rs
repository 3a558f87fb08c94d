//! Pod sandboxes through the CRI gRPC services on a real crated, as
//! kubelet drives them: a pod on the CNI bridge (Debian's plugins) with two
//! containers sharing its network, a host-network pod, and requests that
//! must be refused without harming anything else. The sandbox image is a
//! stand-in pause image built from busybox (no registry is reachable).
//!
//! **Needs root** (a daemon, runc, namespaces, links, mounts).

use std::path::PathBuf;
use std::time::Duration;

use crated_api::cri::{self, ContainerState, NamespaceMode, PodSandboxState};
use crated_api::tonic;
use crated_e2e::client::{connect_with, runtime};
use crated_e2e::cri::{
    Network, container, container_status, pod_config, run_pod, sandbox_status, start_container,
    stop_and_remove_pod, wait_exited, wait_log,
};
use crated_e2e::workload::{bundle_dir, mounts_under, pid_alive, shim_pid, wait_pids_gone};

/// A pod on the CNI bridge: an IP from the subnet, two containers that
/// share its network (one reaches the other's server on localhost), the
/// pod's hostname and DNS config inside, logs in the CRI format, then stop
/// and remove with no netns, mount or record left. Needs root.
#[test]
fn cri_pod_lifecycle_two_containers_share_the_pod_network() {
    let network = Network::new(1);
    let daemon = network.daemon();
    let logs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let cri_state = daemon.state().join("io.containerd.grpc.v1.cri");
    runtime().block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let mut rt = client.cri_runtime();
        let mut config = pod_config("web", NamespaceMode::Pod as i32);
        config.log_directory = logs.path().display().to_string();
        let pod = run_pod(&client, &config).await;

        let status = sandbox_status(&client, &pod).await;
        let st = status.status.clone().unwrap_or_default();
        assert_eq!(st.state, PodSandboxState::SandboxReady as i32, "{st:?}");
        let ip = st.network.clone().unwrap_or_default().ip;
        assert!(
            ip.starts_with(&format!("{}.", network.subnet_prefix)),
            "pod IP {ip:?} is not in {}.0/24",
            network.subnet_prefix
        );
        let info: serde_json::Value =
            serde_json::from_str(status.info.get("info").map_or("null", String::as_str))
                .unwrap_or_else(|e| panic!("verbose info is not JSON: {e}"));
        let netns = PathBuf::from(info["netns"].as_str().unwrap_or_default());
        assert!(netns.starts_with(&cri_state), "netns {netns:?} outside the plugin's state");
        assert!(netns.exists());

        let server = start_container(
            &client,
            &pod,
            &config,
            container(
                "server",
                "mkdir -p /tmp/www && echo pong > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
            ),
        )
        .await;
        let client_script = "cat /etc/hostname /etc/resolv.conf; hostname; \
             for i in $(seq 100); do wget -q -O - http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1";
        let caller = start_container(&client, &pod, &config, container("client", client_script)).await;
        let done = wait_exited(&client, &caller).await;
        assert_eq!((done.exit_code, done.reason.as_str()), (0, "Completed"), "{done:?}");
        let log = wait_log(&logs.path().join("client.log"), "stdout F pong").await;
        for want in [
            "stdout F web-host",
            "stdout F nameserver 192.0.2.53",
            "stdout F search e2e.svc.cluster.local",
            "stdout F options ndots:5",
        ] {
            assert!(log.contains(want), "{want:?} not in the client's log:\n{log}");
        }

        let listed = rt
            .list_containers(cri::ListContainersRequest {
                filter: Some(cri::ContainerFilter {
                    pod_sandbox_id: pod.clone(),
                    ..cri::ContainerFilter::default()
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("ListContainers: {e}"))
            .into_inner()
            .containers;
        let mut ids: Vec<String> = listed.iter().map(|c| c.id.clone()).collect();
        ids.sort();
        let mut want = vec![server.clone(), caller.clone()];
        want.sort();
        assert_eq!(ids, want);
        let running = container_status(&client, &server).await;
        assert_eq!(running.state, ContainerState::ContainerRunning as i32);

        let pods = rt
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    label_selector: [("app".to_string(), "web".to_string())].into(),
                    ..cri::PodSandboxFilter::default()
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("ListPodSandbox: {e}"))
            .into_inner()
            .items;
        assert_eq!(pods.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [pod.as_str()]);

        rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}"));
        let stopped = sandbox_status(&client, &pod).await.status.unwrap_or_default();
        assert_eq!(stopped.state, PodSandboxState::SandboxNotready as i32);
        assert_eq!(
            container_status(&client, &server).await.state,
            ContainerState::ContainerExited as i32
        );
        assert!(!netns.exists(), "the netns pin {netns:?} outlived StopPodSandbox");
        // Stop again is fine.
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("second StopPodSandbox: {e}"));

        for _ in 0..2 {
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));
        }
        let left = rt
            .list_containers(cri::ListContainersRequest::default())
            .await
            .unwrap_or_else(|e| panic!("ListContainers: {e}"))
            .into_inner()
            .containers;
        assert!(left.is_empty(), "{left:?}");
        let pods = rt
            .list_pod_sandbox(cri::ListPodSandboxRequest::default())
            .await
            .unwrap_or_else(|e| panic!("ListPodSandbox: {e}"))
            .into_inner()
            .items;
        assert!(pods.is_empty(), "{pods:?}");
    });
    let records = daemon
        .ctr(&["-n", "k8s.io", "containers", "ls", "-q"])
        .ok()
        .lines();
    assert!(records.is_empty(), "container records left: {records:?}");
    assert_eq!(mounts_under(&[daemon.state()]), Vec::<String>::new());
    let sandboxes = std::fs::read_dir(cri_state.join("sandboxes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(sandboxes, 0, "sandbox state directories left");
}

/// A host-network pod shares the host's network namespace and gets no IP;
/// refused requests (no metadata, an unknown handler, a container in a
/// removed pod, a malformed CNI config) are clear errors that harm nothing
/// else. Needs root.
#[test]
fn cri_host_network_pod_and_refused_requests() {
    let network = Network::new(2);
    let daemon = network.daemon();
    runtime().block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let mut rt = client.cri_runtime();
        let config = pod_config("hostnet", NamespaceMode::Node as i32);
        let pod = run_pod(&client, &config).await;
        let status = sandbox_status(&client, &pod).await;
        assert!(status.status.clone().unwrap_or_default().network.is_none());
        let info: serde_json::Value =
            serde_json::from_str(status.info.get("info").map_or("null", String::as_str))
                .unwrap_or_else(|e| panic!("verbose info is not JSON: {e}"));
        let pid = info["pid"].as_u64().unwrap_or(0);
        assert!(pid > 0, "{info}");
        let ns = |p: &str| std::fs::read_link(p).unwrap_or_default();
        assert_eq!(ns(&format!("/proc/{pid}/ns/net")), ns("/proc/self/ns/net"));
        assert_ne!(ns(&format!("/proc/{pid}/ns/ipc")), ns("/proc/self/ns/ipc"));

        let code = |e: tonic::Status| e.code();
        let mut no_meta = config.clone();
        no_meta.metadata = None;
        let err = rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(no_meta),
                runtime_handler: String::new(),
            })
            .await
            .map(|_| ())
            .map_err(code);
        assert_eq!(err, Err(tonic::Code::InvalidArgument));
        let mut other = pod_config("other", NamespaceMode::Node as i32);
        other.hostname.clear();
        let err = rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(other.clone()),
                runtime_handler: "no-such-handler".into(),
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("an unknown runtime handler was accepted"));
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("no-such-handler"), "{err:?}");
        // The same pod name again while the first holds it.
        let err = rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("a second pod with the same name was accepted"));
        assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");

        // A malformed CNI config: a pod-network sandbox is refused, nothing is left.
        std::fs::write(
            network.conf_dir.path().join("00-broken.conflist"),
            "{\"cniVersion\": \"1.0.0\", \"name\": ",
        )
        .unwrap_or_else(|e| panic!("writing a broken conflist: {e}"));
        let err = rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(pod_config("broken-net", NamespaceMode::Pod as i32)),
                runtime_handler: String::new(),
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("a pod was run with a malformed CNI config"));
        assert_ne!(err.code(), tonic::Code::Ok);
        let netns_dir = daemon.state().join("io.containerd.grpc.v1.cri/netns");
        let pins = std::fs::read_dir(&netns_dir)
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(pins, 0, "a netns pin was left in {}", netns_dir.display());

        // The host-network pod is untouched; remove it, then create in it.
        assert_eq!(
            sandbox_status(&client, &pod)
                .await
                .status
                .unwrap_or_default()
                .state,
            PodSandboxState::SandboxReady as i32
        );
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));
        let err = rt
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(container("late", "true")),
                sandbox_config: Some(config.clone()),
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("a container was created in a removed pod"));
        assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
        let err = rt
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: pod.clone(),
                verbose: false,
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("a removed pod still has a status"));
        assert_eq!(err.code(), tonic::Code::NotFound);
    });
    assert_eq!(mounts_under(&[daemon.state()]), Vec::<String>::new());
}

/// A pod's containers run under the pause container's shim, as
/// containerd's runc shim groups them by the sandbox id: one shim process
/// for the pod, kept while any of its containers is left, gone once the
/// pod is removed. Needs root.
#[test]
fn cri_pod_containers_share_one_shim() {
    let network = Network::new(6);
    let daemon = network.daemon();
    runtime().block_on(async {
        let client = connect_with(&daemon, Duration::from_secs(120)).await;
        let mut rt = client.cri_runtime();
        let config = pod_config("grouped", NamespaceMode::Pod as i32);
        let pod = run_pod(&client, &config).await;
        let first =
            start_container(&client, &pod, &config, container("first", "exec sleep 300")).await;
        let second = start_container(
            &client,
            &pod,
            &config,
            container("second", "exec sleep 300"),
        )
        .await;
        // A shim joined by a later container writes only its address into
        // that container's bundle, as containerd's runc shim does.
        let address = |id: &str| {
            let path = bundle_dir(&daemon, "k8s.io", id).join("address");
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        };
        let pod_address = address(&pod);
        assert_eq!(
            (address(&first), address(&second)),
            (pod_address.clone(), pod_address)
        );
        let pod_shim =
            shim_pid(&daemon, "k8s.io", &pod).unwrap_or_else(|| panic!("no shim pid for {pod}"));

        rt.stop_container(cri::StopContainerRequest {
            container_id: first.clone(),
            timeout: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}"));
        rt.remove_container(cri::RemoveContainerRequest {
            container_id: first.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}"));
        assert!(
            pid_alive(pod_shim),
            "the pod's shim went with one of its containers"
        );
        assert_eq!(
            container_status(&client, &second).await.state,
            ContainerState::ContainerRunning as i32
        );

        stop_and_remove_pod(&client, &pod).await;
        let left = wait_pids_gone(&[pod_shim], Duration::from_secs(20));
        assert!(left.is_empty(), "the pod's shim outlived the pod: {left:?}");
    });
}
