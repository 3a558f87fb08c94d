//! StopPodSandbox and RemovePodSandbox. Stopping ends every container of
//! the pod and the pause process, detaches the pod from its CNI networks,
//! unpins its network namespace and unmounts its `/dev/shm`; removing
//! stops first, then deletes the pod's containers, the pause container
//! and the pod's files. Both may be repeated: what is gone already is
//! skipped.

use std::sync::Arc;
use std::time::Duration;

use crated_api::cri;

use super::run::network_request;
use super::{Sandbox, SandboxMeta, files};
use crate::container::lifecycle;
use crate::error::{Error, Result};
use crate::netns::NetNs;
use crate::service::CriService;

/// How long a stopped pause process may take to report its exit.
const PAUSE_EXIT_WAIT: Duration = Duration::from_secs(30);

impl CriService {
    /// `StopPodSandbox`.
    pub(crate) async fn stop_pod_sandbox(
        &self,
        req: cri::StopPodSandboxRequest,
    ) -> Result<cri::StopPodSandboxResponse> {
        let sandbox = self.inner.sandboxes.get(&req.pod_sandbox_id)?;
        self.stop_sandbox(&sandbox).await?;
        Ok(cri::StopPodSandboxResponse {})
    }

    /// `RemovePodSandbox`: a sandbox that does not exist is removed already.
    pub(crate) async fn remove_pod_sandbox(
        &self,
        req: cri::RemovePodSandboxRequest,
    ) -> Result<cri::RemovePodSandboxResponse> {
        let sandbox = match self.inner.sandboxes.get(&req.pod_sandbox_id) {
            Ok(s) => s,
            Err(Error::NotFound(_)) => {
                tracing::debug!(
                    id = req.pod_sandbox_id,
                    "RemovePodSandbox of a sandbox that does not exist"
                );
                return Ok(cri::RemovePodSandboxResponse {});
            }
            Err(e) => return Err(e),
        };
        self.stop_sandbox(&sandbox).await?;
        let _guard = sandbox.teardown.lock().await;
        let client = self.client().await?;
        let id = &sandbox.meta.id;
        for entry in self.inner.containers.in_sandbox(id) {
            lifecycle::remove(
                &client,
                &self.inner.containers,
                &entry,
                &self.containers_root(),
            )
            .await?;
        }
        match client.delete_container(id, true).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(Error::client(format!(
                    "deleting the pause container of sandbox {id}"
                ))(e));
            }
        }
        files::remove_dir(&sandbox.meta.root_dir)?;
        files::remove_dir(&sandbox.meta.state_dir)?;
        self.inner.sandboxes.remove(id);
        tracing::info!(id, "pod sandbox removed");
        Ok(cri::RemovePodSandboxResponse {})
    }

    /// Stops every container of `sandbox`, then its pause process, then
    /// releases its network and `/dev/shm`.
    async fn stop_sandbox(&self, sandbox: &Arc<Sandbox>) -> Result<()> {
        let _guard = sandbox.teardown.lock().await;
        let client = self.client().await?;
        let id = &sandbox.meta.id;
        for entry in self.inner.containers.in_sandbox(id) {
            lifecycle::stop(&client, &entry, Duration::ZERO).await?;
        }
        if sandbox.status().ready {
            let mut exited = sandbox.exited.subscribe();
            match client.tasks().kill(id, "", 9, true).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(Error::client(format!(
                        "killing the pause process of sandbox {id}"
                    ))(e));
                }
            }
            if tokio::time::timeout(PAUSE_EXIT_WAIT, exited.wait_for(|e| *e))
                .await
                .is_err()
            {
                return Err(Error::FailedPrecondition(format!(
                    "the pause process of sandbox {id} did not exit within {} s of SIGKILL: retry StopPodSandbox",
                    PAUSE_EXIT_WAIT.as_secs()
                )));
            }
        }
        if !sandbox.status().stopped {
            self.teardown_network(&sandbox.meta).await?;
            files::unmount_shm(&sandbox.meta.state_dir)?;
            sandbox.update(|s| {
                s.stopped = true;
                s.ips.clear();
            });
            tracing::info!(id, "pod sandbox stopped");
        }
        Ok(())
    }

    /// Detaches the pod from its networks and unpins its namespace.
    async fn teardown_network(&self, meta: &SandboxMeta) -> Result<()> {
        let Some(path) = &meta.netns_path else {
            return Ok(());
        };
        let netns = NetNs::at(path.clone());
        if netns.exists() {
            self.inner
                .cni
                .teardown(&network_request(meta, path))
                .await?;
        }
        netns.remove()
    }

    /// Best-effort release of what RunPodSandbox may have set up, for a
    /// sandbox that failed part-way: each failure is logged.
    pub(super) async fn release_pod_resources(&self, meta: &SandboxMeta) {
        if let Err(e) = self.teardown_network(meta).await {
            tracing::warn!(id = %meta.id, error = %e, "releasing the network of a failed sandbox");
            if let Some(path) = &meta.netns_path
                && let Err(e) = NetNs::at(path.clone()).remove()
            {
                tracing::warn!(id = %meta.id, error = %e, "unpinning the netns of a failed sandbox");
            }
        }
        if let Err(e) = files::unmount_shm(&meta.state_dir) {
            tracing::warn!(id = %meta.id, error = %e, "unmounting the /dev/shm of a failed sandbox");
        }
        if let Err(e) = files::remove_dir(&meta.state_dir) {
            tracing::warn!(id = %meta.id, error = %e, "removing the state of a failed sandbox");
        }
    }
}
