//! Pod sandboxes: the pause container that holds a pod's namespaces, its
//! pinned network namespace and CNI attachment, and the pod's files
//! (`hostname`, `hosts`, `resolv.conf`, `/dev/shm`).
//!
//! - `files.rs`: the pod's files under the plugin's root and state;
//! - `spec.rs`: the pause container's runtime spec;
//! - `run.rs`: RunPodSandbox, undoing each step when a later one fails;
//! - `teardown.rs`: StopPodSandbox and RemovePodSandbox, both idempotent;
//! - `rpc.rs`: PodSandboxStatus and ListPodSandbox.

mod files;
mod rpc;
mod run;
mod spec;
mod teardown;

pub(crate) use rpc::status as status_of;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crated_api::cri::{self, PodSandboxState};
use serde::{Deserialize, Serialize};

use crate::container::PodContext;
use crate::error::{Error, Result};
use crate::store::ids::IdIndex;
use crate::store::names::NameIndex;

/// The extension the sandbox's metadata is stored under in the pause
/// container's record.
pub const METADATA_EXTENSION: &str = "io.cri-containerd.sandbox.metadata";

/// What the plugin knows of a sandbox from its creation on; kept in the
/// pause container's record so it survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SandboxMeta {
    /// The sandbox id (also the pause container's id).
    pub(crate) id: String,
    /// The unique name (`store::names::sandbox_name`).
    pub(crate) name: String,
    /// The pod's config as kubelet sent it, protobuf-encoded.
    #[serde(with = "proto_bytes")]
    pub(crate) config: cri::PodSandboxConfig,
    /// The runtime handler the pod asked for (empty: the default).
    pub(crate) runtime_handler: String,
    /// The runtime v2 name the handler resolves to.
    pub(crate) runtime_type: String,
    /// The pinned network namespace; `None` for host-network pods.
    pub(crate) netns_path: Option<PathBuf>,
    /// The pod's hostname (empty: the host's).
    pub(crate) hostname: String,
    /// The pod's files under the plugin's root (`hostname`, `hosts`,
    /// `resolv.conf`).
    pub(crate) root_dir: PathBuf,
    /// The pod's directory under the plugin's state (the `/dev/shm` mount).
    pub(crate) state_dir: PathBuf,
    /// Whether `state_dir/shm` is a tmpfs of the pod's own (not host IPC).
    pub(crate) own_shm: bool,
    /// Creation time, Unix nanoseconds.
    pub(crate) created_at: i64,
}

/// The sandbox config travels as protobuf bytes (base64 in the JSON).
mod proto_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use crated_api::cri::PodSandboxConfig;
    use prost::Message;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(c: &PodSandboxConfig, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(c.encode_to_vec()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<PodSandboxConfig, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        PodSandboxConfig::decode(bytes.as_slice()).map_err(serde::de::Error::custom)
    }
}

impl SandboxMeta {
    /// The extension's bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| {
            Error::InvalidArgument(format!("encoding sandbox {} metadata: {e}", self.id))
        })
    }

    /// The pod's metadata (name, namespace, uid, attempt).
    pub(crate) fn pod_metadata(&self) -> cri::PodSandboxMetadata {
        self.config.metadata.clone().unwrap_or_default()
    }

    /// The pod's Linux security context, if any.
    pub(crate) fn security_context(&self) -> Option<&cri::LinuxSandboxSecurityContext> {
        self.config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
    }

    /// The pod's namespace modes (network, PID, IPC).
    pub(crate) fn namespace_options(&self) -> cri::NamespaceOption {
        self.security_context()
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default()
    }

    /// Whether the pod uses the host's network.
    pub(crate) fn host_network(&self) -> bool {
        self.namespace_options().network == cri::NamespaceMode::Node as i32
    }

    /// The pod's cgroup parent (empty: the runtime's default).
    pub(crate) fn cgroup_parent(&self) -> String {
        self.config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.clone())
            .unwrap_or_default()
    }
}

/// Where a sandbox is in its life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SandboxStatus {
    /// The pause process's pid (0 once it has exited).
    pub(crate) pid: u32,
    /// The pod's IPs, the primary first.
    pub(crate) ips: Vec<String>,
    /// READY while the pause process runs.
    pub(crate) ready: bool,
    /// The network is torn down and the pause task deleted.
    pub(crate) stopped: bool,
}

/// One pod sandbox.
#[derive(Debug)]
pub(crate) struct Sandbox {
    /// What it was created as.
    pub(crate) meta: SandboxMeta,
    /// Where it is in its life.
    pub(crate) status: Mutex<SandboxStatus>,
    /// Becomes `true` once the pause process's exit is recorded.
    pub(crate) exited: tokio::sync::watch::Sender<bool>,
    /// Serialises Stop and Remove of this sandbox.
    pub(crate) teardown: tokio::sync::Mutex<()>,
}

impl Sandbox {
    /// A copy of the status.
    pub(crate) fn status(&self) -> SandboxStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Changes the status with `f`.
    pub(crate) fn update(&self, f: impl FnOnce(&mut SandboxStatus)) {
        if let Ok(mut status) = self.status.lock() {
            f(&mut status);
        }
    }

    /// The CRI state.
    pub(crate) fn state(&self) -> PodSandboxState {
        if self.status().ready {
            PodSandboxState::SandboxReady
        } else {
            PodSandboxState::SandboxNotready
        }
    }

    /// What a container of this pod is built from.
    pub(crate) fn pod_context(&self) -> PodContext {
        let meta = &self.meta;
        let pod = meta.pod_metadata();
        let status = self.status();
        let file = |name: &str| Some(meta.root_dir.join(name));
        PodContext {
            sandbox_id: meta.id.clone(),
            pod_name: pod.name,
            pod_namespace: pod.namespace,
            pod_uid: pod.uid,
            pod_attempt: pod.attempt,
            log_directory: meta.config.log_directory.clone(),
            pause_pid: status.pid,
            netns_path: meta.netns_path.clone(),
            cgroup_parent: meta.cgroup_parent(),
            hostname: meta.hostname.clone(),
            hostname_path: file("hostname"),
            hosts_path: file("hosts"),
            resolv_path: file("resolv.conf"),
            shm_path: meta.own_shm.then(|| meta.state_dir.join("shm")),
            security: meta.security_context().cloned(),
            annotations: meta.config.annotations.clone(),
            runtime_handler: meta.runtime_handler.clone(),
        }
    }

    /// The CRI's view of it in ListPodSandbox.
    pub(crate) fn to_cri(&self) -> cri::PodSandbox {
        let meta = &self.meta;
        cri::PodSandbox {
            id: meta.id.clone(),
            metadata: meta.config.metadata.clone(),
            state: self.state() as i32,
            created_at: meta.created_at,
            labels: meta.config.labels.clone(),
            annotations: meta.config.annotations.clone(),
            runtime_handler: meta.runtime_handler.clone(),
        }
    }
}

/// The plugin's pod sandboxes, found by id or unique id prefix, names
/// reserved so two sandboxes never share one.
#[derive(Debug, Default)]
pub(crate) struct SandboxStore {
    sandboxes: RwLock<HashMap<String, Arc<Sandbox>>>,
    ids: IdIndex,
    names: NameIndex,
}

impl SandboxStore {
    /// Reserves `name` for sandbox `id` (AlreadyExists when taken).
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        self.names.reserve(name, id).map_err(|e| {
            Error::AlreadyExists(format!(
                "{e}: remove the sandbox that holds it or use another attempt number"
            ))
        })
    }

    /// Gives a reserved name back.
    pub(crate) fn release_name(&self, name: &str) {
        self.names.release_by_name(name);
    }

    /// Adds `sandbox` (its name must be reserved).
    pub(crate) fn add(&self, sandbox: Sandbox) -> Arc<Sandbox> {
        let sandbox = Arc::new(sandbox);
        let id = sandbox.meta.id.clone();
        if let Ok(mut map) = self.sandboxes.write() {
            map.insert(id.clone(), sandbox.clone());
        }
        self.ids.add(&id);
        sandbox
    }

    /// The sandbox `id_or_prefix` names.
    pub(crate) fn get(&self, id_or_prefix: &str) -> Result<Arc<Sandbox>> {
        let not_found = || {
            Error::NotFound(format!(
                "pod sandbox {id_or_prefix:?} not found: list pod sandboxes to find its id"
            ))
        };
        let id = self.ids.get(id_or_prefix).map_err(|e| {
            if e.kind() == crated_core::ErrorKind::NotFound {
                not_found()
            } else {
                Error::InvalidArgument(e.to_string())
            }
        })?;
        self.sandboxes
            .read()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            .ok_or_else(not_found)
    }

    /// The full id `id_or_prefix` resolves to, if any.
    pub(crate) fn resolve(&self, id_or_prefix: &str) -> Option<String> {
        self.ids.get(id_or_prefix).ok()
    }

    /// Removes sandbox `id` and releases its name.
    pub(crate) fn remove(&self, id: &str) {
        if let Ok(mut map) = self.sandboxes.write() {
            map.remove(id);
        }
        self.ids.remove(id);
        self.names.release_by_key(id);
    }

    /// Every sandbox.
    pub(crate) fn list(&self) -> Vec<Arc<Sandbox>> {
        self.sandboxes
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}
