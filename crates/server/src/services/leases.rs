//! `containerd.services.leases.v1.Leases`.

use crated_api::server::leases_server::{Leases, LeasesServer};
use crated_api::services::v1::{
    AddResourceRequest, CreateRequest, CreateResponse, DeleteRequest, DeleteResourceRequest, Lease,
    ListRequest, ListResourcesRequest, ListResourcesResponse, ListResponse, Resource,
};
use crated_api::tonic::{Request, Response, Status};
use crated_core::Error;
use crated_core::filters::Adaptor;
use crated_metadata::{LeaseResource, Leases as Store};

use super::{GrpcService, blocking, namespace, parse_filters, timestamp};
use crate::gc::GcTrigger;

/// The Leases service.
pub struct LeasesService {
    store: Store,
    gc: GcTrigger,
}

fn to_api(l: crated_metadata::Lease) -> Lease {
    Lease {
        id: l.id,
        created_at: Some(timestamp(l.created_at)),
        labels: l.labels,
    }
}

struct LeaseFields<'a>(&'a crated_metadata::Lease);

impl Adaptor for LeaseFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str)? {
            "id" if path.len() == 1 => Some(self.0.id.clone()),
            "labels" => crated_core::filters::label_field(&self.0.labels, &path[1..]),
            _ => None,
        }
    }
}

fn resource(r: Option<Resource>) -> Result<LeaseResource, Status> {
    let r = r.ok_or_else(|| Error::invalid_argument("resource must be set"))?;
    Ok(LeaseResource {
        id: r.id,
        kind: r.r#type,
    })
}

#[tonic::async_trait]
impl Leases for LeasesService {
    async fn create(
        &self,
        req: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let id = if req.id.is_empty() {
            crated_core::identifiers::generate_id()
        } else {
            req.id
        };
        let store = self.store.clone();
        let lease = blocking(move || store.create(&ns, &id, req.labels)).await?;
        Ok(Response::new(CreateResponse {
            lease: Some(to_api(lease)),
        }))
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let store = self.store.clone();
        let sync = req.sync;
        blocking(move || store.delete(&ns, &req.id)).await?;
        self.gc.mutation(true);
        if sync {
            self.gc.sync().await;
        }
        Ok(Response::new(()))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let store = self.store.clone();
        let leases = blocking(move || store.list(&ns)).await?;
        let leases = leases
            .into_iter()
            .filter(|l| filter.matches(&LeaseFields(l)))
            .map(to_api)
            .collect();
        Ok(Response::new(ListResponse { leases }))
    }

    async fn add_resource(&self, req: Request<AddResourceRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let r = resource(req.resource)?;
        let store = self.store.clone();
        blocking(move || store.add_resource(&ns, &req.id, &r)).await?;
        Ok(Response::new(()))
    }

    async fn delete_resource(
        &self,
        req: Request<DeleteResourceRequest>,
    ) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let r = resource(req.resource)?;
        let store = self.store.clone();
        blocking(move || store.delete_resource(&ns, &req.id, &r)).await?;
        Ok(Response::new(()))
    }

    async fn list_resources(
        &self,
        req: Request<ListResourcesRequest>,
    ) -> Result<Response<ListResourcesResponse>, Status> {
        let ns = namespace(&req)?;
        let id = req.into_inner().id;
        let store = self.store.clone();
        let list = blocking(move || store.list_resources(&ns, &id)).await?;
        let resources = list
            .into_iter()
            .map(|r| Resource {
                id: r.id,
                r#type: r.kind,
            })
            .collect();
        Ok(Response::new(ListResourcesResponse { resources }))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: Store, gc: GcTrigger) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            LeasesServer::new(LeasesService {
                store: store.clone(),
                gc: gc.clone(),
            })
        )
    })
}
