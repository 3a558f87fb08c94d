//! `containerd.services.containers.v1.Containers`.

use std::pin::Pin;

use crated_api::events::container_create::Runtime as EventRuntime;
use crated_api::events::{ContainerCreate, ContainerDelete, ContainerUpdate};
use crated_api::server::containers_server::{Containers, ContainersServer};
use crated_api::services::v1::{
    CreateContainerRequest, CreateContainerResponse, DeleteContainerRequest, GetContainerRequest,
    GetContainerResponse, ListContainerMessage, ListContainersRequest, ListContainersResponse,
    UpdateContainerRequest, UpdateContainerResponse,
};
use crated_api::tonic::{Request, Response, Status};
use crated_core::Error;
use crated_core::container::Container;
use crated_core::filters::{Adaptor, label_field};
use crated_metadata::Containers as Store;
use futures::Stream;

use super::convert::{any_to_api, container_from_api, container_to_api};
use super::events::async_stream;
use super::{GrpcService, blocking, namespace, parse_filters};
use crate::exchange::Exchange;
use crate::gc::GcTrigger;

/// The Containers service.
pub struct ContainersService {
    store: Store,
    events: Exchange,
    gc: GcTrigger,
}

struct ContainerFields<'a>(&'a Container);

impl Adaptor for ContainerFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match (
            path.first().map(String::as_str)?,
            path.get(1).map(String::as_str),
        ) {
            ("id", None) => nonempty(&self.0.id),
            ("image", None) => nonempty(&self.0.image),
            ("runtime", Some("name")) if path.len() == 2 => nonempty(&self.0.runtime.name),
            ("labels", _) => label_field(&self.0.labels, &path[1..]),
            _ => None,
        }
    }
}

fn required(c: Option<crated_api::services::v1::Container>) -> Result<Container, Error> {
    c.map(container_from_api)
        .ok_or_else(|| Error::invalid_argument("container must be set"))
}

impl ContainersService {
    async fn matching(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Vec<Container>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let store = self.store.clone();
        let list = blocking(move || store.list(&ns)).await?;
        Ok(list
            .into_iter()
            .filter(|c| filter.matches(&ContainerFields(c)))
            .collect())
    }
}

#[tonic::async_trait]
impl Containers for ContainersService {
    async fn get(
        &self,
        req: Request<GetContainerRequest>,
    ) -> Result<Response<GetContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let store = self.store.clone();
        let c = blocking(move || store.get(&ns, &id)).await?;
        Ok(Response::new(GetContainerResponse {
            container: Some(container_to_api(c)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        let containers = self
            .matching(req)
            .await?
            .into_iter()
            .map(container_to_api)
            .collect();
        Ok(Response::new(ListContainersResponse { containers }))
    }

    type ListStreamStream =
        Pin<Box<dyn Stream<Item = Result<ListContainerMessage, Status>> + Send>>;

    async fn list_stream(
        &self,
        req: Request<ListContainersRequest>,
    ) -> Result<Response<Self::ListStreamStream>, Status> {
        let list = self.matching(req).await?;
        Ok(Response::new(async_stream(move |tx| async move {
            for c in list {
                let msg = ListContainerMessage {
                    container: Some(container_to_api(c)),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
        })))
    }

    async fn create(
        &self,
        req: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let c = required(req.into_inner().container)?;
        let (store, ns2) = (self.store.clone(), ns.clone());
        let created = blocking(move || store.create(&ns2, c)).await?;
        let event = ContainerCreate {
            id: created.id.clone(),
            image: created.image.clone(),
            runtime: Some(EventRuntime {
                name: created.runtime.name.clone(),
                options: created.runtime.options.clone().map(any_to_api),
            }),
        };
        self.events
            .publish_message(&ns, "/containers/create", &event);
        Ok(Response::new(CreateContainerResponse {
            container: Some(container_to_api(created)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateContainerRequest>,
    ) -> Result<Response<UpdateContainerResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let c = required(req.container)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let (store, ns2) = (self.store.clone(), ns.clone());
        let updated = blocking(move || store.update(&ns2, c, &paths)).await?;
        let event = ContainerUpdate {
            id: updated.id.clone(),
            image: updated.image.clone(),
            labels: updated.labels.clone(),
            snapshot_key: updated.snapshot_key.clone(),
        };
        self.events
            .publish_message(&ns, "/containers/update", &event);
        Ok(Response::new(UpdateContainerResponse {
            container: Some(container_to_api(updated)),
        }))
    }

    async fn delete(&self, req: Request<DeleteContainerRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let (store, ns2, id2) = (self.store.clone(), ns.clone(), id.clone());
        blocking(move || store.delete(&ns2, &id2)).await?;
        self.events
            .publish_message(&ns, "/containers/delete", &ContainerDelete { id });
        self.gc.mutation(true);
        Ok(Response::new(()))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: Store, events: Exchange, gc: GcTrigger) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            ContainersServer::new(ContainersService {
                store: store.clone(),
                events: events.clone(),
                gc: gc.clone(),
            }),
        )
    })
}
