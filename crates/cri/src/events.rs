//! GetContainerEvents: the container event stream of evented PLEG. Every
//! created, started, stopped and deleted container is sent to each open
//! stream, with the status of its pod when the pod still exists.

use std::pin::Pin;

use crated_api::cri;
use crated_api::tonic::Status;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::Result;
use crate::service::CriService;

/// The stream GetContainerEvents answers with.
pub(crate) type ContainerEventStream =
    Pin<Box<dyn Stream<Item = std::result::Result<cri::ContainerEventResponse, Status>> + Send>>;

impl CriService {
    /// `GetContainerEvents`.
    pub(crate) async fn get_container_events(
        &self,
        _req: cri::GetEventsRequest,
    ) -> Result<ContainerEventStream> {
        let receiver = self.inner.containers.subscribe();
        let service = self.clone();
        let stream = futures::stream::unfold(receiver, move |mut receiver| {
            let service = service.clone();
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(mut event) => {
                            service.add_statuses(&mut event);
                            return Some((Ok(event), receiver));
                        }
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(
                                missed,
                                "a GetContainerEvents stream fell behind: events dropped"
                            );
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }

    /// Adds the container's status and its pod's, where they still exist.
    fn add_statuses(&self, event: &mut cri::ContainerEventResponse) {
        let Ok(entry) = self.inner.containers.get(&event.container_id) else {
            return;
        };
        if entry.meta.id != event.container_id {
            return;
        }
        event.containers_statuses = vec![crate::container::status_of(&entry)];
        if let Ok(sandbox) = self.inner.sandboxes.get(&entry.meta.sandbox_id) {
            event.pod_sandbox_status = Some(crate::sandbox::status_of(&sandbox));
        }
    }
}
