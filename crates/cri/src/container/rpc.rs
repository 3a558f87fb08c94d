//! The container RPCs of the CRI services. They answer Unimplemented
//! until sandboxes exist to run containers in: the lifecycle they will call
//! is in [`super::lifecycle`].

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

impl CriService {
    /// `CreateContainer`.
    pub(crate) async fn create_container(
        &self,
        _req: cri::CreateContainerRequest,
    ) -> Result<cri::CreateContainerResponse> {
        Err(Error::Unimplemented {
            what: "CreateContainer",
        })
    }
    /// `StartContainer`.
    pub(crate) async fn start_container(
        &self,
        _req: cri::StartContainerRequest,
    ) -> Result<cri::StartContainerResponse> {
        Err(Error::Unimplemented {
            what: "StartContainer",
        })
    }

    /// `StopContainer`.
    pub(crate) async fn stop_container(
        &self,
        _req: cri::StopContainerRequest,
    ) -> Result<cri::StopContainerResponse> {
        Err(Error::Unimplemented {
            what: "StopContainer",
        })
    }

    /// `RemoveContainer`.
    pub(crate) async fn remove_container(
        &self,
        _req: cri::RemoveContainerRequest,
    ) -> Result<cri::RemoveContainerResponse> {
        Err(Error::Unimplemented {
            what: "RemoveContainer",
        })
    }

    /// `ListContainers`.
    pub(crate) async fn list_containers(
        &self,
        _req: cri::ListContainersRequest,
    ) -> Result<cri::ListContainersResponse> {
        Err(Error::Unimplemented {
            what: "ListContainers",
        })
    }

    /// `ContainerStatus`.
    pub(crate) async fn container_status(
        &self,
        _req: cri::ContainerStatusRequest,
    ) -> Result<cri::ContainerStatusResponse> {
        Err(Error::Unimplemented {
            what: "ContainerStatus",
        })
    }

    /// `UpdateContainerResources`.
    pub(crate) async fn update_container_resources(
        &self,
        _req: cri::UpdateContainerResourcesRequest,
    ) -> Result<cri::UpdateContainerResourcesResponse> {
        Err(Error::Unimplemented {
            what: "UpdateContainerResources",
        })
    }

    /// `ReopenContainerLog`.
    pub(crate) async fn reopen_container_log(
        &self,
        _req: cri::ReopenContainerLogRequest,
    ) -> Result<cri::ReopenContainerLogResponse> {
        Err(Error::Unimplemented {
            what: "ReopenContainerLog",
        })
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
