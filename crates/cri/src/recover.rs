//! Recovery after a restart (or a SIGKILL): the plugin rebuilds its pods
//! and containers from the records in namespace `k8s.io` (their metadata
//! extensions) and the container status files, then asks each task how
//! it is. A task still running gets its exit watcher and log copiers
//! again; one that exited while the plugin was away has its exit recorded
//! (and reported on GetContainerEvents) as if it had been seen; a task
//! that vanished is recorded as exited with code 255 and reason Unknown.

use std::sync::{Arc, Mutex};

use crated_api::cri::{ContainerEventType, ContainerState};
use crated_client::Client;
use crated_client::cio::FifoSet;
use crated_client::containers::Container;
use crated_client::tasks::Status as TaskStatus;

use crate::container::lifecycle::{self, KIND_LABEL};
use crate::container::record::{METADATA_EXTENSION as CONTAINER_EXTENSION, Metadata, Status};
use crate::container::store::{Entry, now_nanos};
use crate::error::{Error, Result};
use crate::sandbox::{
    METADATA_EXTENSION as SANDBOX_EXTENSION, Sandbox, SandboxMeta, SandboxStatus,
};
use crate::service::CriService;

impl CriService {
    /// Rebuilds the stores from what crated holds; each object that
    /// cannot be read is logged and skipped, never fatal.
    pub(crate) async fn recover(&self, client: &Client) -> Result<()> {
        let records = client.containers().list(&[]).await.map_err(Error::client(
            "listing the CRI's containers to recover them",
        ))?;
        let kind = |r: &Container| r.labels.get(KIND_LABEL).cloned().unwrap_or_default();
        let mut pods = 0;
        let mut containers = 0;
        for record in records.iter().filter(|r| kind(r) == "sandbox") {
            match self.recover_sandbox(client, record).await {
                Ok(()) => pods += 1,
                Err(e) => {
                    tracing::warn!(id = %record.id, error = %e, "a pod sandbox could not be recovered")
                }
            }
        }
        for record in records.iter().filter(|r| kind(r) == "container") {
            match self.recover_container(client, record).await {
                Ok(()) => containers += 1,
                Err(e) => {
                    tracing::warn!(id = %record.id, error = %e, "a container could not be recovered")
                }
            }
        }
        if pods + containers > 0 {
            tracing::info!(pods, containers, "CRI state recovered");
        }
        Ok(())
    }

    async fn recover_sandbox(&self, client: &Client, record: &Container) -> Result<()> {
        let ext = record.extensions.get(SANDBOX_EXTENSION).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "sandbox record {} has no metadata extension",
                record.id
            ))
        })?;
        let meta: SandboxMeta = serde_json::from_slice(&ext.value).map_err(|e| {
            Error::InvalidArgument(format!(
                "sandbox record {} metadata is unreadable: {e}",
                record.id
            ))
        })?;
        let id = meta.id.clone();
        self.inner.sandboxes.reserve_name(&meta.name, &id)?;
        let task = client.tasks().get(&id, "").await.ok();
        let running = task
            .as_ref()
            .is_some_and(|t| t.status == TaskStatus::Running);
        if task.is_some()
            && !running
            && let Err(e) = client.tasks().delete(&id).await
        {
            tracing::warn!(id, error = %e, "deleting a stopped pause task");
        }
        let netns_gone = meta.netns_path.as_ref().is_some_and(|p| !p.exists());
        let ips = if running {
            self.inner
                .cni
                .cached_network(&id)
                .map(|n| n.pod_ips())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let sandbox = self.inner.sandboxes.add(Sandbox {
            meta,
            status: Mutex::new(SandboxStatus {
                pid: task.as_ref().filter(|_| running).map_or(0, |t| t.pid),
                ips,
                ready: running,
                stopped: !running && netns_gone,
            }),
            exited: tokio::sync::watch::channel(!running).0,
            teardown: tokio::sync::Mutex::new(()),
        });
        if running {
            let waiter = {
                let (client, id) = (client.clone(), id.clone());
                tokio::spawn(async move { client.tasks().wait(&id, "").await })
            };
            self.watch_pause(&sandbox, waiter);
        }
        Ok(())
    }

    async fn recover_container(&self, client: &Client, record: &Container) -> Result<()> {
        let ext = record.extensions.get(CONTAINER_EXTENSION).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "container record {} has no metadata extension",
                record.id
            ))
        })?;
        let meta = Metadata::decode(&ext.value)?;
        let id = meta.id.clone();
        let status_path = self.containers_root().join(&id).join("status");
        let status = Status::load(&status_path).unwrap_or_else(|e| {
            tracing::warn!(id, error = %e, "no readable status: the container counts as created");
            Status {
                created_at: now_nanos(),
                ..Status::default()
            }
        });
        self.inner.containers.reserve_name(&meta.name, &id)?;
        let entry = self.inner.containers.add(Entry {
            meta,
            status: Mutex::new(status.clone()),
            status_path,
            log: Mutex::new(None),
            stdin_fifo: Mutex::new(None),
            exited: tokio::sync::watch::channel(status.state() == ContainerState::ContainerExited)
                .0,
        })?;
        if status.state() != ContainerState::ContainerRunning {
            return Ok(());
        }
        match client.tasks().get(&id, "").await {
            Ok(task) if task.status == TaskStatus::Running || task.status == TaskStatus::Paused => {
                self.rewatch(client, record, &entry, &task).await
            }
            Ok(task) => {
                let at = task
                    .exited_at
                    .and_then(|t| t.timestamp_nanos_opt())
                    .unwrap_or_else(now_nanos);
                let code = i32::try_from(task.exit_status).unwrap_or(i32::MAX);
                if let Err(e) = client.tasks().delete(&id).await {
                    tracing::warn!(id, error = %e, "deleting a task that exited while crated was away");
                }
                self.record_exit(&entry, code, at, "")
            }
            Err(e) if e.is_not_found() => self.record_exit(&entry, 255, now_nanos(), "Unknown"),
            Err(e) => Err(Error::client(format!(
                "asking for the task of container {id}"
            ))(e)),
        }
    }

    /// A task still running: its log copiers and exit watcher again.
    async fn rewatch(
        &self,
        client: &Client,
        record: &Container,
        entry: &Arc<Entry>,
        task: &crated_client::tasks::Process,
    ) -> Result<()> {
        let fifos = FifoSet::from_process(task);
        let max_line = usize::try_from(self.config().max_container_log_line_size).unwrap_or(0);
        lifecycle::attach_log(entry, &fifos, max_line).await?;
        let cgroups_path = record
            .spec_json()
            .and_then(|s| s["linux"]["cgroupsPath"].as_str().map(String::from))
            .unwrap_or_default();
        let waiter = {
            let (client, id) = (client.clone(), entry.meta.id.clone());
            tokio::spawn(async move { client.tasks().wait(&id, "").await })
        };
        lifecycle::watch_exit(
            client,
            &self.inner.containers,
            entry,
            waiter,
            cgroups_path,
            fifos,
        );
        Ok(())
    }

    /// Records an exit that happened unseen, and reports it.
    fn record_exit(&self, entry: &Entry, code: i32, at: i64, reason: &str) -> Result<()> {
        entry.update(|s| {
            if !reason.is_empty() {
                s.reason = reason.into();
            }
            s.exited(code, at, false);
        })?;
        let _ = entry.exited.send(true);
        self.inner
            .containers
            .publish(entry, ContainerEventType::ContainerStoppedEvent);
        Ok(())
    }
}
