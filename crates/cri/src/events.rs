//! GetContainerEvents: the container event stream of evented PLEG.

use std::pin::Pin;

use crated_api::cri;
use crated_api::tonic::Status;
use futures::Stream;

use crate::service::CriService;
use crate::{Error, Result};

/// The stream GetContainerEvents answers with.
pub(crate) type ContainerEventStream =
    Pin<Box<dyn Stream<Item = std::result::Result<cri::ContainerEventResponse, Status>> + Send>>;

impl CriService {
    /// `GetContainerEvents`.
    pub(crate) async fn get_container_events(
        &self,
        _req: cri::GetEventsRequest,
    ) -> Result<ContainerEventStream> {
        Err(Error::Unimplemented {
            what: "GetContainerEvents",
        })
    }
}
