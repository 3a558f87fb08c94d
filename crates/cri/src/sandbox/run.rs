//! RunPodSandbox: reserve the pod's name, write its files, pin a network
//! namespace and attach it with CNI (unless the pod uses the host's
//! network), then create and start the pause container from the sandbox
//! image. A step that fails undoes the ones before it, so a refused
//! sandbox leaves no netns, mount, snapshot or record behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crated_api::cri::{self, PortMapping as CriPortMapping, Protocol};
use crated_client::containers::{Container, Runtime};
use crated_client::tasks::Stdio;
use prost_types::Any;

use super::files;
use super::spec::sandbox_spec;
use super::{METADATA_EXTENSION, Sandbox, SandboxMeta, SandboxStatus};
use crate::cni::{PodNetworkRequest, PortMapping};
use crate::container::lifecycle::{ExitWaiter, KIND_LABEL, store_with_snapshot};
use crate::container::store::now_nanos;
use crate::error::{Error, Result};
use crate::netns::NetNs;
use crate::service::CriService;
use crate::store::names::sandbox_name;

/// The type URL of the sandbox metadata extension's JSON.
const METADATA_TYPE_URL: &str = "github.com/containerd/cri/pkg/store/sandbox/Metadata";

impl CriService {
    /// `RunPodSandbox`.
    pub(crate) async fn run_pod_sandbox(
        &self,
        req: cri::RunPodSandboxRequest,
    ) -> Result<cri::RunPodSandboxResponse> {
        let config = req.config.ok_or_else(|| {
            Error::InvalidArgument("RunPodSandbox needs a sandbox config: set config".into())
        })?;
        let pod = config.metadata.clone().ok_or_else(|| {
            Error::InvalidArgument(
                "sandbox config must include metadata: set config.metadata".into(),
            )
        })?;
        for (field, value) in [
            ("name", &pod.name),
            ("namespace", &pod.namespace),
            ("uid", &pod.uid),
        ] {
            if value.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "sandbox metadata has no {field}: set config.metadata.{field}"
                )));
            }
        }
        let handler = self.config().runtime(&req.runtime_handler).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no runtime for {:?} is configured: add [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{}] or use a configured handler",
                req.runtime_handler, req.runtime_handler
            ))
        })?;
        let id = crated_core::identifiers::generate_id();
        let name = sandbox_name(&pod);
        self.inner.sandboxes.reserve_name(&name, &id)?;
        let mut meta = SandboxMeta {
            id: id.clone(),
            name: name.clone(),
            hostname: config.hostname.clone(),
            root_dir: self.inner.options.root.join("sandboxes").join(&id),
            state_dir: self.inner.options.state.join("sandboxes").join(&id),
            config,
            runtime_handler: req.runtime_handler,
            runtime_type: handler.runtime_type,
            created_at: now_nanos(),
            ..SandboxMeta::default()
        };
        // A host-network pod has the host's UTS namespace and so its name.
        if meta.host_network() {
            meta.hostname.clear();
        }
        match self.run_reserved(meta).await {
            Ok(sandbox) => {
                tracing::info!(id = %sandbox.meta.id, name, "pod sandbox running");
                Ok(cri::RunPodSandboxResponse { pod_sandbox_id: id })
            }
            Err(e) => {
                self.inner.sandboxes.release_name(&name);
                Err(e)
            }
        }
    }

    /// The steps after the name is reserved; undoes them on failure.
    async fn run_reserved(&self, mut meta: SandboxMeta) -> Result<Arc<Sandbox>> {
        let mut ips = Vec::new();
        let made = async {
            files::write_pod_files(
                &meta.root_dir,
                &meta.hostname,
                meta.config.dns_config.as_ref(),
            )?;
            files::private_dir(&meta.state_dir)?;
            let host_ipc = meta.namespace_options().ipc == cri::NamespaceMode::Node as i32;
            let shm = if host_ipc {
                PathBuf::from("/dev/shm")
            } else {
                meta.own_shm = true;
                files::mount_shm(&meta.state_dir)?
            };
            if !meta.host_network() {
                // The conf dir as it is now (kubelet's node may have just written it).
                self.inner.cni.reload()?;
                let netns = NetNs::create(&self.netns_dir(), &format!("cni-{}", meta.id))?;
                meta.netns_path = Some(netns.path().to_path_buf());
                let network = self
                    .inner
                    .cni
                    .setup(&network_request(&meta, netns.path()))
                    .await?;
                ips = network.pod_ips();
            }
            self.create_pause(&meta, &shm).await
        }
        .await;
        match made {
            Ok((pid, waiter)) => {
                let sandbox = self.inner.sandboxes.add(Sandbox {
                    meta,
                    status: Mutex::new(SandboxStatus {
                        pid,
                        ips,
                        ready: true,
                        stopped: false,
                    }),
                    exited: tokio::sync::watch::channel(false).0,
                    teardown: tokio::sync::Mutex::new(()),
                });
                self.watch_pause(&sandbox, waiter);
                Ok(sandbox)
            }
            Err(e) => {
                tracing::warn!(id = %meta.id, error = %e, "RunPodSandbox failed: undoing its steps");
                self.release_pod_resources(&meta).await;
                if let Ok(client) = self.client().await
                    && let Err(err) = client.delete_container(&meta.id, true).await
                    && !err.is_not_found()
                {
                    tracing::warn!(id = %meta.id, error = %err, "deleting the pause container of a failed sandbox");
                }
                if let Err(err) = files::remove_dir(&meta.root_dir) {
                    tracing::warn!(id = %meta.id, error = %err, "removing the sandbox directory");
                }
                Err(e)
            }
        }
    }

    /// Where pinned network namespaces live.
    pub(super) fn netns_dir(&self) -> PathBuf {
        self.inner.options.state.join("netns")
    }

    /// Creates and starts the pause container; returns its pid and the
    /// wait for its exit (subscribed before the start).
    async fn create_pause(&self, meta: &SandboxMeta, shm: &Path) -> Result<(u32, ExitWaiter)> {
        let client = self.client().await?;
        let reference = self.config().sandbox_image.clone();
        let image = self.ensure_image(&reference).await?;
        let resolved = &image.facts.resolved;
        let image_name = image.references.first().cloned().unwrap_or(reference);
        let id = meta.id.as_str();
        let snapshotter = self.config().containerd.snapshotter.clone();
        let record = store_with_snapshot(&client, &snapshotter, id, &resolved.chain_id(), |_| {
            let spec = sandbox_spec(
                meta,
                &resolved.config.config,
                &image_name,
                shm,
                &self.inner.spec_options,
            )?;
            let runtime = Runtime {
                name: meta.runtime_type.clone(),
                options: None,
            };
            let mut record = Container::new(id, runtime, &spec)
                .map_err(Error::client("encoding the sandbox's spec"))?;
            record.labels = meta.config.labels.clone();
            record.labels.insert(KIND_LABEL.into(), "sandbox".into());
            record.image = image_name.clone();
            record.extensions.insert(
                METADATA_EXTENSION.into(),
                Any {
                    type_url: METADATA_TYPE_URL.into(),
                    value: meta.encode()?,
                },
            );
            Ok((record.clone(), record))
        })
        .await?;
        client
            .create_task(&record, Stdio::default())
            .await
            .map_err(Error::client(format!(
                "creating the pause task of sandbox {id}"
            )))?;
        let waiter = {
            let client = client.clone();
            let id = id.to_string();
            tokio::spawn(async move { client.tasks().wait(&id, "").await })
        };
        match client.tasks().start(id, "").await {
            Ok(pid) => Ok((pid, waiter)),
            Err(e) => {
                waiter.abort();
                let _ = client.tasks().delete(id).await;
                Err(Error::client(format!(
                    "starting the pause task of sandbox {id}"
                ))(e))
            }
        }
    }

    /// Records the pause process's exit when it comes: the sandbox turns
    /// NOTREADY and its task is deleted.
    pub(crate) fn watch_pause(&self, sandbox: &Arc<Sandbox>, waiter: ExitWaiter) {
        let (service, sandbox) = (self.clone(), sandbox.clone());
        tokio::spawn(async move {
            let exit = waiter.await;
            let id = &sandbox.meta.id;
            tracing::info!(id, ?exit, "pause process exited");
            if let Ok(client) = service.client().await
                && let Err(e) = client.tasks().delete(id).await
                && !e.is_not_found()
            {
                tracing::warn!(id, error = %e, "deleting the exited pause task");
            }
            sandbox.update(|s| {
                s.ready = false;
                s.pid = 0;
            });
            let _ = sandbox.exited.send(true);
        });
    }
}

/// The CNI request of a pod: containerd's CNI_ARGS and the pod's port
/// mappings as the `portMappings` capability.
pub(super) fn network_request(meta: &SandboxMeta, netns: &Path) -> PodNetworkRequest {
    let pod = meta.pod_metadata();
    let mut req = PodNetworkRequest::for_pod(&meta.id, netns, &pod.namespace, &pod.name, &pod.uid);
    req.runtime.port_mappings = meta
        .config
        .port_mappings
        .iter()
        .filter(|p| p.host_port > 0)
        .filter_map(port_mapping)
        .collect();
    if !meta.cgroup_parent().is_empty() {
        req.runtime.cgroup_path = Some(meta.cgroup_parent());
    }
    req
}

fn port_mapping(p: &CriPortMapping) -> Option<PortMapping> {
    let protocol = match Protocol::try_from(p.protocol).ok()? {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    Some(PortMapping {
        host_port: u16::try_from(p.host_port).ok()?,
        container_port: u16::try_from(p.container_port).ok()?,
        protocol: protocol.into(),
        host_ip: p.host_ip.clone(),
    })
}
