//! The runtime's own state: Version, Status, RuntimeConfig and
//! UpdateRuntimeConfig.

use std::collections::HashMap;

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

/// The version of the CRI's Version message kubelet checks.
const KUBE_API_VERSION: &str = "0.1.0";
/// The CRI version served.
const RUNTIME_API_VERSION: &str = "v1";
/// The runtime name Version reports.
const RUNTIME_NAME: &str = "crated";
/// The CRI's condition names.
const RUNTIME_READY: &str = "RuntimeReady";
const NETWORK_READY: &str = "NetworkReady";
/// containerd's reason when no CNI network is configured.
const NETWORK_NOT_READY_REASON: &str = "NetworkPluginNotReady";

impl CriService {
    /// `Version`.
    pub(crate) async fn version(&self, _req: cri::VersionRequest) -> Result<cri::VersionResponse> {
        Ok(cri::VersionResponse {
            version: KUBE_API_VERSION.into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: RUNTIME_API_VERSION.into(),
        })
    }

    /// `Status`: the runtime is ready once it reaches the daemon; the
    /// network once a CNI configuration is loaded (the directory is read
    /// again on each call, so a configuration written later is seen).
    pub(crate) async fn status(&self, req: cri::StatusRequest) -> Result<cri::StatusResponse> {
        let runtime = match self.client().await {
            Ok(client) => client
                .version()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        // A failed reload is what ready() reports.
        let _ = self.inner.cni.reload();
        let network = self.inner.cni.ready();
        let mut info = HashMap::new();
        if req.verbose {
            let config = serde_json::to_string(self.config()).map_err(|e| {
                Error::InvalidArgument(format!("rendering the CRI config as JSON: {e}"))
            })?;
            info.insert("config".to_string(), config);
            info.insert(
                "lastCNILoadStatus".to_string(),
                network.clone().err().unwrap_or_else(|| "OK".into()),
            );
            info.insert("podCIDR".to_string(), self.pod_cidr());
        }
        Ok(cri::StatusResponse {
            status: Some(cri::RuntimeStatus {
                conditions: vec![
                    condition(RUNTIME_READY, runtime, "RuntimeNotReady"),
                    condition(NETWORK_READY, network, NETWORK_NOT_READY_REASON),
                ],
            }),
            info,
            ..Default::default()
        })
    }

    /// `RuntimeConfig`: the cgroup driver of the default runtime handler
    /// (systemd when its options set `SystemdCgroup`, else cgroupfs).
    pub(crate) async fn runtime_config(
        &self,
        _req: cri::RuntimeConfigRequest,
    ) -> Result<cri::RuntimeConfigResponse> {
        let systemd = self
            .config()
            .runtime("")
            .and_then(|h| h.options.get("SystemdCgroup").and_then(|v| v.as_bool()))
            .unwrap_or(false);
        let driver = if systemd {
            cri::CgroupDriver::Systemd
        } else {
            cri::CgroupDriver::Cgroupfs
        };
        Ok(cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: driver as i32,
            }),
        })
    }

    /// `UpdateRuntimeConfig`: keeps the pod CIDR kubelet sends.
    pub(crate) async fn update_runtime_config(
        &self,
        req: cri::UpdateRuntimeConfigRequest,
    ) -> Result<cri::UpdateRuntimeConfigResponse> {
        let cidr = req
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        if let Ok(mut guard) = self.inner.pod_cidr.write() {
            *guard = cidr;
        }
        Ok(cri::UpdateRuntimeConfigResponse {})
    }

    /// The pod CIDR last set by UpdateRuntimeConfig (empty: none).
    pub(crate) fn pod_cidr(&self) -> String {
        self.inner
            .pod_cidr
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

/// A CRI condition: true, or false with the reason and message.
fn condition(
    kind: &str,
    outcome: std::result::Result<(), String>,
    reason: &str,
) -> cri::RuntimeCondition {
    match outcome {
        Ok(()) => cri::RuntimeCondition {
            r#type: kind.into(),
            status: true,
            ..Default::default()
        },
        Err(message) => cri::RuntimeCondition {
            r#type: kind.into(),
            status: false,
            reason: reason.into(),
            message,
        },
    }
}
