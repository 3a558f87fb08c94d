//! `containerd.services.namespaces.v1.Namespaces`.

use std::collections::HashMap;

use crated_api::events::{NamespaceCreate, NamespaceDelete, NamespaceUpdate};
use crated_api::server::namespaces_server::{Namespaces, NamespacesServer};
use crated_api::services::v1::{
    CreateNamespaceRequest, CreateNamespaceResponse, DeleteNamespaceRequest, GetNamespaceRequest,
    GetNamespaceResponse, ListNamespacesRequest, ListNamespacesResponse, Namespace,
    UpdateNamespaceRequest, UpdateNamespaceResponse,
};
use crated_api::tonic::{Request, Response, Status};
use crated_core::Error;
use crated_metadata::Namespaces as Store;

use super::{GrpcService, blocking};
use crate::exchange::Exchange;

/// The Namespaces service.
pub struct NamespacesService {
    store: Store,
    events: Exchange,
}

fn to_api(ns: crated_metadata::Namespace) -> Namespace {
    Namespace {
        name: ns.name,
        labels: ns.labels,
    }
}

/// Applies containerd's field-mask rules for namespace labels.
fn updated_labels(
    name: &str,
    current: HashMap<String, String>,
    requested: HashMap<String, String>,
    paths: &[String],
) -> Result<HashMap<String, String>, Error> {
    if paths.is_empty() {
        return Ok(requested);
    }
    let mut labels = current;
    for path in paths {
        if path == "labels" {
            labels = requested.clone();
        } else if let Some(key) = path.strip_prefix("labels.") {
            match requested.get(key).filter(|v| !v.is_empty()) {
                Some(v) => labels.insert(key.to_string(), v.clone()),
                None => labels.remove(key),
            };
        } else {
            return Err(Error::invalid_argument(format!(
                "cannot update {path:?} field on namespace {name:?}"
            )));
        }
    }
    Ok(labels)
}

#[tonic::async_trait]
impl Namespaces for NamespacesService {
    async fn get(
        &self,
        req: Request<GetNamespaceRequest>,
    ) -> Result<Response<GetNamespaceResponse>, Status> {
        // A namespace that does not exist answers OK with no labels, as in
        // containerd (its Go client reads the default namespace's labels at
        // connect, before anything has created it).
        let store = self.store.clone();
        let name = req.into_inner().name;
        let ns = blocking(move || store.get(&name)).await?;
        Ok(Response::new(GetNamespaceResponse {
            namespace: Some(to_api(ns)),
        }))
    }

    async fn list(
        &self,
        _: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let store = self.store.clone();
        let list = blocking(move || store.list()).await?;
        Ok(Response::new(ListNamespacesResponse {
            namespaces: list.into_iter().map(to_api).collect(),
        }))
    }

    async fn create(
        &self,
        req: Request<CreateNamespaceRequest>,
    ) -> Result<Response<CreateNamespaceResponse>, Status> {
        let ns = req.into_inner().namespace.unwrap_or_default();
        let store = self.store.clone();
        let created = blocking(move || store.create(&ns.name, ns.labels)).await?;
        self.events.publish_message(
            &created.name,
            "/namespaces/create",
            &NamespaceCreate {
                name: created.name.clone(),
                labels: created.labels.clone(),
            },
        );
        Ok(Response::new(CreateNamespaceResponse {
            namespace: Some(to_api(created)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateNamespaceRequest>,
    ) -> Result<Response<UpdateNamespaceResponse>, Status> {
        let req = req.into_inner();
        let ns = req.namespace.unwrap_or_default();
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        // containerd writes each label of the request (clearing the old
        // ones first when there is no mask), and a label write creates a
        // namespace that does not exist yet: `ctr namespaces label new k=v`
        // and the Go client's SetLabel on a fresh namespace succeed.
        let create = !paths.is_empty() || !ns.labels.is_empty();
        let store = self.store.clone();
        let updated = blocking(move || {
            store.update_labels(&ns.name, create, |current| {
                updated_labels(&ns.name, current, ns.labels, &paths)
            })
        })
        .await?;
        self.events.publish_message(
            &updated.name,
            "/namespaces/update",
            &NamespaceUpdate {
                name: updated.name.clone(),
                labels: updated.labels.clone(),
            },
        );
        Ok(Response::new(UpdateNamespaceResponse {
            namespace: Some(to_api(updated)),
        }))
    }

    async fn delete(&self, req: Request<DeleteNamespaceRequest>) -> Result<Response<()>, Status> {
        let name = req.into_inner().name;
        let store = self.store.clone();
        let deleted = name.clone();
        blocking(move || store.delete(&deleted)).await?;
        self.events.publish_message(
            &name,
            "/namespaces/delete",
            &NamespaceDelete { name: name.clone() },
        );
        Ok(Response::new(()))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: Store, events: Exchange) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            NamespacesServer::new(NamespacesService {
                store: store.clone(),
                events: events.clone(),
            })
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_mask_rules() {
        let cur = HashMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        let req = HashMap::from([("a".to_string(), "9".to_string())]);
        let all = updated_labels("n", cur.clone(), req.clone(), &[]).unwrap();
        assert_eq!(all, req);
        let one = updated_labels(
            "n",
            cur.clone(),
            req.clone(),
            &["labels.a".into(), "labels.b".into()],
        )
        .unwrap();
        assert_eq!(one, HashMap::from([("a".to_string(), "9".to_string())]));
        assert!(updated_labels("n", cur, req, &["name".into()]).is_err());
    }
}
