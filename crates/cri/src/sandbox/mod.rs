//! Pod sandboxes: the pause container, its network namespace and CNI
//! networking, and the pod's files.

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// One pod sandbox: what the plugin knows of it, and what containers in
/// the pod are built from.
#[allow(
    dead_code,
    reason = "filled by RunPodSandbox and read by the container side, both still to come"
)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Sandbox {
    /// The sandbox id (also the pause container's id).
    pub(crate) id: String,
    /// The pod's config as kubelet sent it.
    pub(crate) config: cri::PodSandboxConfig,
    /// The runtime handler the pod asked for (empty: the default).
    pub(crate) runtime_handler: String,
    /// The runtime v2 name the handler resolves to.
    pub(crate) runtime_type: String,
    /// The pause process's pid on the host (0 once it has stopped).
    pub(crate) pid: u32,
    /// The pinned network namespace; empty for host-network pods.
    pub(crate) netns_path: PathBuf,
    /// The cgroup parent of the pod's containers.
    pub(crate) cgroup_parent: String,
    /// The pod's hostname.
    pub(crate) hostname: String,
    /// The pod's `hostname` file.
    pub(crate) hostname_path: PathBuf,
    /// The pod's `/etc/hosts`.
    pub(crate) hosts_path: PathBuf,
    /// The pod's `/etc/resolv.conf`.
    pub(crate) resolv_path: PathBuf,
    /// The source of the pod's `/dev/shm` mount (empty: the host's, for
    /// host-IPC pods).
    pub(crate) shm_path: PathBuf,
    /// The pod's primary IP and the others.
    pub(crate) ips: Vec<String>,
    /// READY or NOTREADY.
    pub(crate) state: i32,
    /// Creation time, nanoseconds since the epoch.
    pub(crate) created_at: i64,
}

#[allow(
    dead_code,
    reason = "filled by RunPodSandbox and read by the container side, both still to come"
)]
impl Sandbox {
    /// The pod's Linux security context (namespace options, …), if any.
    pub(crate) fn security_context(&self) -> Option<&cri::LinuxSandboxSecurityContext> {
        self.config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
    }
}

/// The plugin's pod sandboxes by id.
#[allow(
    dead_code,
    reason = "filled by RunPodSandbox and read by the container side, both still to come"
)]
#[derive(Debug, Default)]
pub(crate) struct SandboxStore {
    sandboxes: RwLock<HashMap<String, Sandbox>>,
}

#[allow(
    dead_code,
    reason = "filled by RunPodSandbox and read by the container side, both still to come"
)]
impl SandboxStore {
    /// The sandbox `id` (a full id), if the store has it.
    pub(crate) fn get(&self, id: &str) -> Option<Sandbox> {
        self.sandboxes.read().ok()?.get(id).cloned()
    }

    /// Every sandbox.
    pub(crate) fn list(&self) -> Vec<Sandbox> {
        self.sandboxes
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl CriService {
    /// `RunPodSandbox`.
    pub(crate) async fn run_pod_sandbox(
        &self,
        _req: cri::RunPodSandboxRequest,
    ) -> Result<cri::RunPodSandboxResponse> {
        Err(Error::Unimplemented {
            what: "RunPodSandbox",
        })
    }
    /// `StopPodSandbox`.
    pub(crate) async fn stop_pod_sandbox(
        &self,
        _req: cri::StopPodSandboxRequest,
    ) -> Result<cri::StopPodSandboxResponse> {
        Err(Error::Unimplemented {
            what: "StopPodSandbox",
        })
    }

    /// `RemovePodSandbox`.
    pub(crate) async fn remove_pod_sandbox(
        &self,
        _req: cri::RemovePodSandboxRequest,
    ) -> Result<cri::RemovePodSandboxResponse> {
        Err(Error::Unimplemented {
            what: "RemovePodSandbox",
        })
    }

    /// `PodSandboxStatus`.
    pub(crate) async fn pod_sandbox_status(
        &self,
        _req: cri::PodSandboxStatusRequest,
    ) -> Result<cri::PodSandboxStatusResponse> {
        Err(Error::Unimplemented {
            what: "PodSandboxStatus",
        })
    }

    /// `ListPodSandbox`.
    pub(crate) async fn list_pod_sandbox(
        &self,
        _req: cri::ListPodSandboxRequest,
    ) -> Result<cri::ListPodSandboxResponse> {
        Err(Error::Unimplemented {
            what: "ListPodSandbox",
        })
    }
}
