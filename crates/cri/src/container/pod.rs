//! What a container needs to know about the pod it runs in.

use std::path::PathBuf;

use crated_api::cri::LinuxSandboxSecurityContext;

/// The facts of a pod sandbox a container's spec is built from: the
/// sandbox record keeps them, the container side only reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodContext {
    /// The sandbox id.
    pub sandbox_id: String,
    /// The pod's name (`PodSandboxMetadata.name`).
    pub pod_name: String,
    /// The pod's Kubernetes namespace.
    pub pod_namespace: String,
    /// The pod's uid.
    pub pod_uid: String,
    /// The pod's attempt number.
    pub pod_attempt: u32,
    /// The pod's log directory (`PodSandboxConfig.log_directory`);
    /// container log paths are relative to it.
    pub log_directory: String,
    /// The pid of the pause process; its `/proc/<pid>/ns/*` are joined.
    pub pause_pid: u32,
    /// The pinned network namespace (none for a host-network pod).
    pub netns_path: Option<PathBuf>,
    /// The pod's cgroup parent (`LinuxPodSandboxConfig.cgroup_parent`);
    /// empty leaves containerd's default cgroup.
    pub cgroup_parent: String,
    /// The pod's hostname (empty: the host's).
    pub hostname: String,
    /// The pod's `hostname` file, mounted at `/etc/hostname`.
    pub hostname_path: Option<PathBuf>,
    /// The pod's `hosts` file, mounted at `/etc/hosts`.
    pub hosts_path: Option<PathBuf>,
    /// The pod's `resolv.conf`, mounted at `/etc/resolv.conf`.
    pub resolv_path: Option<PathBuf>,
    /// The pod's `/dev/shm` source, mounted at `/dev/shm` unless the pod
    /// shares the host's IPC namespace.
    pub shm_path: Option<PathBuf>,
    /// The pod's security context (namespace options, privileged).
    pub security: Option<LinuxSandboxSecurityContext>,
    /// The pod's annotations (some pass through to containers).
    pub annotations: std::collections::HashMap<String, String>,
    /// The runtime handler the pod runs with (empty: the default).
    pub runtime_handler: String,
}

impl PodContext {
    /// Whether the pod may run privileged containers.
    pub fn privileged(&self) -> bool {
        self.security.as_ref().is_some_and(|s| s.privileged)
    }

    /// The path of namespace `kind` (`net`, `ipc`, `uts`, `pid`) of the
    /// process `pid` (containerd's `GetNetworkNamespace` and kin).
    pub fn ns_path(pid: u32, kind: &str) -> String {
        format!("/proc/{pid}/ns/{kind}")
    }
}
