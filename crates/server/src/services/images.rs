//! `containerd.services.images.v1.Images`.

use crated_api::server::images_server::{Images, ImagesServer};
use crated_api::services::v1::{
    CreateImageRequest, CreateImageResponse, DeleteImageRequest, GetImageRequest, GetImageResponse,
    ListImagesRequest, ListImagesResponse, UpdateImageRequest, UpdateImageResponse,
};
use crated_api::services::v1::{ImageCreate, ImageDelete, ImageUpdate};
use crated_api::tonic::{Request, Response, Status};
use crated_core::Error;
use crated_core::filters::{Adaptor, label_field};
use crated_core::image::Image;
use crated_metadata::Images as Store;

use super::convert::{image_from_api, image_to_api};
use super::{GrpcService, blocking, namespace, parse_filters};
use crate::exchange::Exchange;
use crate::gc::GcTrigger;

/// The Images service.
pub struct ImagesService {
    store: Store,
    events: Exchange,
    gc: GcTrigger,
}

struct ImageFields<'a>(&'a Image);

impl Adaptor for ImageFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match (
            path.first().map(String::as_str)?,
            path.get(1).map(String::as_str),
        ) {
            ("name", None) => nonempty(&self.0.name),
            ("target", Some("digest")) if path.len() == 2 => nonempty(&self.0.target.digest),
            ("target", Some("mediatype")) if path.len() == 2 => nonempty(&self.0.target.media_type),
            ("labels", _) => label_field(&self.0.labels, &path[1..]),
            ("annotations", _) => label_field(&self.0.target.annotations, &path[1..]),
            _ => None,
        }
    }
}

fn required(image: Option<crated_api::services::v1::Image>) -> Result<Image, Error> {
    image
        .map(image_from_api)
        .ok_or_else(|| Error::invalid_argument("image must be set"))
}

#[tonic::async_trait]
impl Images for ImagesService {
    async fn get(
        &self,
        req: Request<GetImageRequest>,
    ) -> Result<Response<GetImageResponse>, Status> {
        let ns = namespace(&req)?;
        let name = req.into_inner().name;
        let store = self.store.clone();
        let image = blocking(move || store.get(&ns, &name)).await?;
        Ok(Response::new(GetImageResponse {
            image: Some(image_to_api(image)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let store = self.store.clone();
        let list = blocking(move || store.list(&ns)).await?;
        let images = list
            .into_iter()
            .filter(|i| filter.matches(&ImageFields(i)))
            .map(image_to_api)
            .collect();
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn create(
        &self,
        req: Request<CreateImageRequest>,
    ) -> Result<Response<CreateImageResponse>, Status> {
        let ns = namespace(&req)?;
        let image = required(req.into_inner().image)?;
        let (store, ns2) = (self.store.clone(), ns.clone());
        let created = blocking(move || store.create(&ns2, image)).await?;
        let event = ImageCreate {
            name: created.name.clone(),
            labels: created.labels.clone(),
        };
        self.events.publish_message(&ns, "/images/create", &event);
        self.gc.mutation(false);
        Ok(Response::new(CreateImageResponse {
            image: Some(image_to_api(created)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateImageRequest>,
    ) -> Result<Response<UpdateImageResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let image = required(req.image)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let (store, ns2) = (self.store.clone(), ns.clone());
        let updated = blocking(move || store.update(&ns2, image, &paths)).await?;
        let event = ImageUpdate {
            name: updated.name.clone(),
            labels: updated.labels.clone(),
        };
        self.events.publish_message(&ns, "/images/update", &event);
        Ok(Response::new(UpdateImageResponse {
            image: Some(image_to_api(updated)),
        }))
    }

    async fn delete(&self, req: Request<DeleteImageRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let sync = req.sync;
        let (store, ns2, name) = (self.store.clone(), ns.clone(), req.name.clone());
        blocking(move || {
            if let Some(target) = &req.target {
                let current = store.get(&ns2, &name)?;
                if current.target.digest != target.digest {
                    return Err(Error::failed_precondition(format!(
                        "image {name:?} points at {}, not {}",
                        current.target.digest, target.digest
                    )));
                }
            }
            store.delete(&ns2, &name)
        })
        .await?;
        self.events
            .publish_message(&ns, "/images/delete", &ImageDelete { name: req.name });
        self.gc.mutation(true);
        if sync {
            self.gc.sync().await;
        }
        Ok(Response::new(()))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: Store, events: Exchange, gc: GcTrigger) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            ImagesServer::new(ImagesService {
                store: store.clone(),
                events: events.clone(),
                gc: gc.clone(),
            })
        )
    })
}
