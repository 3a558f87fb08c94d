//! Pods through the CRI gRPC services for the tests: a private CNI bridge
//! network, a daemon whose CRI plugin uses it and a stand-in pause image
//! built from busybox (no registry is reachable), and the calls kubelet
//! makes, panicking with the RPC's error as a test does.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crated_api::cri::{
    self, ContainerConfig, ContainerMetadata, ContainerState, DnsConfig, ImageSpec,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata,
};
use crated_client::Client;
use crated_testkit::Daemon;
use crated_testkit::workload::BusyboxRootfs;

/// The busybox image containers run.
pub const IMAGE: &str = "docker.io/library/cri-busybox:test";
/// The stand-in pause image.
pub const PAUSE: &str = "docker.io/library/cri-pause:test";
/// Debian's CNI plugins.
pub const CNI_BIN: &str = "/usr/lib/cni";

/// The test's bridge and the daemon's leftovers, removed however it ends.
pub struct Network {
    bridge: String,
    /// The first three octets of the pod subnet (a /24).
    pub subnet_prefix: String,
    /// The CNI conf dir the daemon reads.
    pub conf_dir: tempfile::TempDir,
}

impl Network {
    /// A bridge + host-local conflist on a subnet of the test's own.
    /// Needs root.
    pub fn new(tag: u32) -> Network {
        crated_testkit::root::require_root("runs pods with runc, netns and CNI");
        assert!(
            Path::new(CNI_BIN).join("bridge").is_file(),
            "CNI plugins missing in {CNI_BIN}: run scripts/install-deps.sh (containernetworking-plugins)"
        );
        let pid = std::process::id();
        let bridge = format!("crp{tag}{}", pid % 100_000);
        let subnet_prefix = format!("10.214.{}", (tag * 50 + pid % 50) % 250);
        let conf_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let conflist = format!(
            r#"{{"cniVersion":"1.0.0","name":"crated-pods","plugins":[
              {{"type":"bridge","bridge":"{bridge}","isGateway":true,"ipMasq":false,
                "ipam":{{"type":"host-local","ranges":[[{{"subnet":"{subnet_prefix}.0/24"}}]],
                         "dataDir":"{}"}}}},
              {{"type":"portmap","capabilities":{{"portMappings":true}}}}]}}"#,
            conf_dir.path().join("ipam").display()
        );
        std::fs::write(conf_dir.path().join("10-pods.conflist"), conflist)
            .unwrap_or_else(|e| panic!("writing the conflist: {e}"));
        Network {
            bridge,
            subnet_prefix,
            conf_dir,
        }
    }

    /// A daemon whose CRI plugin uses this network and the stand-in pause
    /// image (set in containerd 2.x's `io.containerd.cri.v1.*` sections), with the busybox and pause images imported into `k8s.io`.
    pub fn daemon(&self) -> Daemon {
        let daemon = Daemon::builder()
            .clean_up_containers()
            // containerd 2.x's layout of the CRI options in a version 3 file.
            .config_tail(&format!(
                "[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = {PAUSE:?}\n\
                 [plugins.\"io.containerd.cri.v1.runtime\".cni]\n  bin_dirs = [{CNI_BIN:?}]\n  conf_dir = {:?}\n",
                self.conf_dir.path().display().to_string()
            ))
            .start();
        import_images(&daemon, &BusyboxRootfs::new());
        daemon
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// Imports the busybox and pause images into `k8s.io`.
fn import_images(daemon: &Daemon, rootfs: &BusyboxRootfs) {
    for tar in [rootfs.oci_image_tar(IMAGE), rootfs.pause_image_tar(PAUSE)] {
        import_image(daemon, &tar);
    }
}

/// Imports the OCI image layout tar `tar` into `k8s.io`.
pub fn import_image(daemon: &Daemon, tar: &Path) {
    daemon
        .cratectl_cmd(&["-n", "k8s.io", "images", "import"])
        .args([tar])
        .timeout(Duration::from_secs(120))
        .run()
        .ok();
}

/// A pod named `name` in namespace `e2e` with a hostname, DNS config, a
/// label `app=<name>` and network mode `network`.
pub fn pod_config(name: &str, network: i32) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            namespace: "e2e".into(),
            uid: format!("uid-{name}"),
            attempt: 0,
        }),
        hostname: format!("{name}-host"),
        log_directory: String::new(),
        dns_config: Some(DnsConfig {
            servers: vec!["192.0.2.53".into()],
            searches: vec!["e2e.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        labels: [("app".to_string(), name.to_string())].into(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network,
                    ..NamespaceOption::default()
                }),
                ..LinuxSandboxSecurityContext::default()
            }),
            ..LinuxPodSandboxConfig::default()
        }),
        ..PodSandboxConfig::default()
    }
}

/// A busybox container named `name` running `sh -c script`, logging to
/// `<name>.log` in the pod's log directory.
pub fn container(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..ImageSpec::default()
        }),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        log_path: format!("{name}.log"),
        ..ContainerConfig::default()
    }
}

/// Runs a pod and returns its id.
pub async fn run_pod(client: &Client, config: &PodSandboxConfig) -> String {
    client
        .cri_runtime()
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}"))
        .into_inner()
        .pod_sandbox_id
}

/// Stops and removes pod `pod`, as kubelet does when a pod goes.
pub async fn stop_and_remove_pod(client: &Client, pod: &str) {
    let mut rt = client.cri_runtime();
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .unwrap_or_else(|e| panic!("StopPodSandbox {pod}: {e}"));
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .unwrap_or_else(|e| panic!("RemovePodSandbox {pod}: {e}"));
}

/// Creates and starts a container in pod `pod`.
pub async fn start_container(
    client: &Client,
    pod: &str,
    pod_config: &PodSandboxConfig,
    config: ContainerConfig,
) -> String {
    let mut rt = client.cri_runtime();
    let id = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}"))
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest {
        container_id: id.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer {id}: {e}"));
    id
}

/// ContainerStatus of `id`.
pub async fn container_status(client: &Client, id: &str) -> cri::ContainerStatus {
    client
        .cri_runtime()
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .unwrap_or_else(|e| panic!("ContainerStatus {id}: {e}"))
        .into_inner()
        .status
        .unwrap_or_default()
}

/// Waits for container `id` to exit and returns its status.
pub async fn wait_exited(client: &Client, id: &str) -> cri::ContainerStatus {
    for _ in 0..600 {
        let status = container_status(client, id).await;
        if status.state == ContainerState::ContainerExited as i32 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container {id} did not exit within 60 s");
}

/// Verbose PodSandboxStatus of `id`.
pub async fn sandbox_status(client: &Client, id: &str) -> cri::PodSandboxStatusResponse {
    client
        .cri_runtime()
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        })
        .await
        .unwrap_or_else(|e| panic!("PodSandboxStatus {id}: {e}"))
        .into_inner()
}

/// Reads a log file written by the plugin, waiting for `want` to show.
pub async fn wait_log(path: &Path, want: &str) -> String {
    let mut text = String::new();
    for _ in 0..300 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(want) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{want:?} not in log {}: {text:?}", path.display());
}
