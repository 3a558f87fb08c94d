//! PodSandboxStatus and ListPodSandbox.

use crated_api::cri;
use serde_json::json;

use super::Sandbox;
use crate::error::Result;
use crate::service::CriService;
use crate::store::filters::filter_sandboxes;

impl CriService {
    /// `PodSandboxStatus`; `verbose` adds the plugin's view as JSON
    /// under `info`.
    pub(crate) async fn pod_sandbox_status(
        &self,
        req: cri::PodSandboxStatusRequest,
    ) -> Result<cri::PodSandboxStatusResponse> {
        let sandbox = self.inner.sandboxes.get(&req.pod_sandbox_id)?;
        let mut info = std::collections::HashMap::new();
        if req.verbose {
            info.insert("info".to_string(), verbose_info(&sandbox).to_string());
        }
        Ok(cri::PodSandboxStatusResponse {
            status: Some(status(&sandbox)),
            info,
            ..cri::PodSandboxStatusResponse::default()
        })
    }

    /// `ListPodSandbox`.
    pub(crate) async fn list_pod_sandbox(
        &self,
        req: cri::ListPodSandboxRequest,
    ) -> Result<cri::ListPodSandboxResponse> {
        let store = &self.inner.sandboxes;
        let all = store.list().iter().map(|s| s.to_cri()).collect();
        Ok(cri::ListPodSandboxResponse {
            items: filter_sandboxes(all, req.filter.as_ref(), |p| store.resolve(p)),
        })
    }
}

/// The CRI status of `sandbox`.
pub(crate) fn status(sandbox: &Sandbox) -> cri::PodSandboxStatus {
    let meta = &sandbox.meta;
    let ips = sandbox.status().ips;
    let network = (!meta.host_network()).then(|| cri::PodSandboxNetworkStatus {
        ip: ips.first().cloned().unwrap_or_default(),
        additional_ips: ips
            .iter()
            .skip(1)
            .map(|ip| cri::PodIp { ip: ip.clone() })
            .collect(),
    });
    cri::PodSandboxStatus {
        id: meta.id.clone(),
        metadata: meta.config.metadata.clone(),
        state: sandbox.state() as i32,
        created_at: meta.created_at,
        network,
        linux: Some(cri::LinuxPodSandboxStatus {
            namespaces: Some(cri::Namespace {
                options: Some(meta.namespace_options()),
            }),
        }),
        labels: meta.config.labels.clone(),
        annotations: meta.config.annotations.clone(),
        runtime_handler: meta.runtime_handler.clone(),
    }
}

/// What `verbose` adds: the pause process, the network namespace, the
/// runtime and the pod's files.
fn verbose_info(sandbox: &Sandbox) -> serde_json::Value {
    let meta = &sandbox.meta;
    let status = sandbox.status();
    json!({
        "id": meta.id,
        "name": meta.name,
        "pid": status.pid,
        "processStatus": if status.ready { "running" } else { "stopped" },
        "netNamespaceClosed": status.stopped,
        "netns": meta.netns_path,
        "runtimeHandler": meta.runtime_handler,
        "runtimeType": meta.runtime_type,
        "sandboxRoot": meta.root_dir,
        "hostname": meta.hostname,
    })
}
