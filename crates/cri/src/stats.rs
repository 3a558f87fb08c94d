//! Container and pod statistics and metrics.

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

impl CriService {
    /// `ContainerStats`.
    pub(crate) async fn container_stats(
        &self,
        _req: cri::ContainerStatsRequest,
    ) -> Result<cri::ContainerStatsResponse> {
        Err(Error::Unimplemented {
            what: "ContainerStats",
        })
    }
    /// `ListContainerStats`.
    pub(crate) async fn list_container_stats(
        &self,
        _req: cri::ListContainerStatsRequest,
    ) -> Result<cri::ListContainerStatsResponse> {
        Err(Error::Unimplemented {
            what: "ListContainerStats",
        })
    }

    /// `PodSandboxStats`.
    pub(crate) async fn pod_sandbox_stats(
        &self,
        _req: cri::PodSandboxStatsRequest,
    ) -> Result<cri::PodSandboxStatsResponse> {
        Err(Error::Unimplemented {
            what: "PodSandboxStats",
        })
    }

    /// `ListPodSandboxStats`.
    pub(crate) async fn list_pod_sandbox_stats(
        &self,
        _req: cri::ListPodSandboxStatsRequest,
    ) -> Result<cri::ListPodSandboxStatsResponse> {
        Err(Error::Unimplemented {
            what: "ListPodSandboxStats",
        })
    }

    /// `ListMetricDescriptors`.
    pub(crate) async fn list_metric_descriptors(
        &self,
        _req: cri::ListMetricDescriptorsRequest,
    ) -> Result<cri::ListMetricDescriptorsResponse> {
        Err(Error::Unimplemented {
            what: "ListMetricDescriptors",
        })
    }

    /// `ListPodSandboxMetrics`.
    pub(crate) async fn list_pod_sandbox_metrics(
        &self,
        _req: cri::ListPodSandboxMetricsRequest,
    ) -> Result<cri::ListPodSandboxMetricsResponse> {
        Err(Error::Unimplemented {
            what: "ListPodSandboxMetrics",
        })
    }
}
