//! The container RPCs of the CRI services: each finds the container (or
//! its pod) in the plugin's stores and runs a step of [`super::lifecycle`].

use std::time::Duration;

use crated_api::cri;
use crated_client::containers::Runtime;
use serde_json::json;

use super::lifecycle::{self, CreateOptions};
use super::record::config_from_json;
use super::store::Entry;
use crate::service::CriService;
use crate::store::filters::filter_containers;
use crate::{Error, Result};

/// The type URL containerd gives an OCI `LinuxResources` in a task update.
const LINUX_RESOURCES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

impl CriService {
    /// `CreateContainer`: in a ready pod, with the pod's runtime.
    pub(crate) async fn create_container(
        &self,
        req: cri::CreateContainerRequest,
    ) -> Result<cri::CreateContainerResponse> {
        let sandbox = self.inner.sandboxes.get(&req.pod_sandbox_id)?;
        if !sandbox.status().ready {
            return Err(Error::FailedPrecondition(format!(
                "pod sandbox {} is not ready: create containers only in a running pod",
                sandbox.meta.id
            )));
        }
        let mut config = req.config.ok_or_else(|| {
            Error::InvalidArgument("CreateContainer needs a container config: set config".into())
        })?;
        // The image as containerd's CRI finds it: a normalised name, an id
        // or an id prefix; the container records the name of its record.
        if let Some(image) = config.image.as_mut() {
            let local = self
                .local_resolve(&image.image)
                .await
                .map_err(|e| match e {
                    Error::NotFound(m) => Error::NotFound(format!("{m}: pull it first")),
                    other => other,
                })?;
            image.image = local.references.first().cloned().unwrap_or(local.id);
        }
        let handler = self
            .config()
            .runtime(&sandbox.meta.runtime_handler)
            .unwrap_or_default();
        let mut spec = self.inner.spec_options.clone();
        spec.pod_annotations = handler.pod_annotations;
        spec.container_annotations = handler.container_annotations;
        let options = CreateOptions {
            runtime: Runtime {
                name: sandbox.meta.runtime_type.clone(),
                options: None,
            },
            snapshotter: self.config().containerd.snapshotter.clone(),
            root: self.containers_root(),
            spec,
            ignore_image_volumes: self.config().ignore_image_defined_volumes,
        };
        let client = self.client().await?;
        let entry = lifecycle::create(
            &client,
            &self.inner.containers,
            &sandbox.pod_context(),
            &config,
            &options,
        )
        .await?;
        Ok(cri::CreateContainerResponse {
            container_id: entry.meta.id.clone(),
        })
    }

    /// `StartContainer`.
    pub(crate) async fn start_container(
        &self,
        req: cri::StartContainerRequest,
    ) -> Result<cri::StartContainerResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let max_line = usize::try_from(self.config().max_container_log_line_size).unwrap_or(0);
        let client = self.client().await?;
        lifecycle::start(
            &client,
            &self.inner.containers,
            &entry,
            &self.fifo_root(),
            max_line,
        )
        .await?;
        Ok(cri::StartContainerResponse {})
    }

    /// `StopContainer`: the stop signal, then SIGKILL after `timeout` s.
    pub(crate) async fn stop_container(
        &self,
        req: cri::StopContainerRequest,
    ) -> Result<cri::StopContainerResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let timeout = Duration::from_secs(u64::try_from(req.timeout).unwrap_or(0));
        lifecycle::stop(&self.client().await?, &entry, timeout).await?;
        Ok(cri::StopContainerResponse {})
    }

    /// `RemoveContainer`: a container that does not exist is removed already.
    pub(crate) async fn remove_container(
        &self,
        req: cri::RemoveContainerRequest,
    ) -> Result<cri::RemoveContainerResponse> {
        let entry = match self.inner.containers.get(&req.container_id) {
            Ok(entry) => entry,
            Err(Error::NotFound(_)) => return Ok(cri::RemoveContainerResponse {}),
            Err(e) => return Err(e),
        };
        let client = self.client().await?;
        lifecycle::remove(
            &client,
            &self.inner.containers,
            &entry,
            &self.containers_root(),
        )
        .await?;
        Ok(cri::RemoveContainerResponse {})
    }

    /// `ListContainers`.
    pub(crate) async fn list_containers(
        &self,
        req: cri::ListContainersRequest,
    ) -> Result<cri::ListContainersResponse> {
        let containers = &self.inner.containers;
        let all = containers.list().iter().map(|e| e.to_cri()).collect();
        let resolve_container = |p: &str| containers.get(p).ok().map(|e| e.meta.id.clone());
        let resolve_sandbox = |p: &str| self.inner.sandboxes.resolve(p);
        Ok(cri::ListContainersResponse {
            containers: filter_containers(
                all,
                req.filter.as_ref(),
                resolve_container,
                resolve_sandbox,
            ),
        })
    }

    /// `ContainerStatus`; `verbose` adds the plugin's view under `info`.
    pub(crate) async fn container_status(
        &self,
        req: cri::ContainerStatusRequest,
    ) -> Result<cri::ContainerStatusResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let mut info = std::collections::HashMap::new();
        if req.verbose {
            let status = entry.status();
            let value = json!({
                "sandboxID": entry.meta.sandbox_id,
                "pid": status.pid,
                "removing": status.removing,
                "logPath": entry.meta.log_path,
                "name": entry.meta.name,
            });
            info.insert("info".to_string(), value.to_string());
        }
        Ok(cri::ContainerStatusResponse {
            status: Some(container_status(&entry)),
            info,
        })
    }

    /// `UpdateContainerResources`: the new Linux resources go into the
    /// container's stored spec and, when it runs, to its task.
    pub(crate) async fn update_container_resources(
        &self,
        req: cri::UpdateContainerResourcesRequest,
    ) -> Result<cri::UpdateContainerResourcesResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        let id = entry.meta.id.clone();
        let state = entry.status().state();
        if !matches!(
            state,
            cri::ContainerState::ContainerCreated | cri::ContainerState::ContainerRunning
        ) {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {state:?}: only a created or running container's resources can change"
            )));
        }
        let resources = req.linux.ok_or_else(|| {
            Error::InvalidArgument(
                "UpdateContainerResources needs linux resources: set linux".into(),
            )
        })?;
        let client = self.client().await?;
        let mut record = client
            .containers()
            .get(&id)
            .await
            .map_err(Error::client(format!("reading container {id}")))?;
        let mut spec = record.spec_json().ok_or_else(|| {
            Error::FailedPrecondition(format!("container {id} has no readable spec"))
        })?;
        super::resources::apply_resources(
            &mut spec,
            &resources,
            &self.inner.spec_options.resources,
        )?;
        let linux_resources = serde_json::to_vec(&spec["linux"]["resources"]).map_err(|e| {
            Error::InvalidArgument(format!("encoding the resources of container {id}: {e}"))
        })?;
        let parsed: crated_oci::OciSpec = serde_json::from_value(spec).map_err(|e| {
            Error::InvalidArgument(format!(
                "the updated spec of container {id} is invalid: {e}"
            ))
        })?;
        record.spec = Some(crated_client::spec::to_any(&parsed).map_err(Error::client(
            format!("encoding the spec of container {id}"),
        ))?);
        client
            .containers()
            .update(&record, &["spec".to_string()])
            .await
            .map_err(Error::client(format!(
                "storing the new spec of container {id}"
            )))?;
        if state == cri::ContainerState::ContainerRunning {
            let any = prost_types::Any {
                type_url: LINUX_RESOURCES_TYPE_URL.into(),
                value: linux_resources,
            };
            client
                .tasks()
                .update(&id, any)
                .await
                .map_err(Error::client(format!(
                    "updating the resources of container {id}"
                )))?;
        }
        Ok(cri::UpdateContainerResourcesResponse {})
    }

    /// `ReopenContainerLog`: the log file is opened again (after kubelet
    /// rotated it away); only for a running container.
    pub(crate) async fn reopen_container_log(
        &self,
        req: cri::ReopenContainerLogRequest,
    ) -> Result<cri::ReopenContainerLogResponse> {
        let entry = self.inner.containers.get(&req.container_id)?;
        if entry.status().state() != cri::ContainerState::ContainerRunning {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running: only a running container's log can be reopened",
                entry.meta.id
            )));
        }
        let log = entry.log.lock().ok().and_then(|l| l.clone());
        if let Some(log) = log {
            log.reopen().await?;
        }
        Ok(cri::ReopenContainerLogResponse {})
    }

    /// `CheckpointContainer`.
    pub(crate) async fn checkpoint_container(
        &self,
        _req: cri::CheckpointContainerRequest,
    ) -> Result<cri::CheckpointContainerResponse> {
        Err(Error::Unimplemented {
            what: "CheckpointContainer",
        })
    }
}

/// The CRI status of a container.
pub(crate) fn container_status(entry: &Entry) -> cri::ContainerStatus {
    let config = config_from_json(&entry.meta.config);
    let status = entry.status();
    cri::ContainerStatus {
        id: entry.meta.id.clone(),
        metadata: config.metadata,
        state: status.state() as i32,
        created_at: status.created_at,
        started_at: status.started_at,
        finished_at: status.finished_at,
        exit_code: status.exit_code,
        image: config.image,
        image_ref: entry.meta.image_ref.clone(),
        image_id: entry.meta.image_ref.clone(),
        reason: status.reason,
        message: status.message,
        labels: config.labels,
        annotations: config.annotations,
        mounts: config.mounts,
        log_path: entry.meta.log_path.clone(),
        ..cri::ContainerStatus::default()
    }
}
