//! `runtime.v1.ImageService`: each RPC delegates to the `image` module.

use crated_api::cri;
use crated_api::cri::image_service_server::ImageService;
use crated_api::tonic::{self, Request, Response, Status};

use super::{CriService, serve};

#[tonic::async_trait]
impl ImageService for CriService {
    async fn list_images(
        &self,
        req: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        serve(self, req, |r| self.list_images(r)).await
    }

    async fn image_status(
        &self,
        req: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        serve(self, req, |r| self.image_status(r)).await
    }

    async fn pull_image(
        &self,
        req: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        serve(self, req, |r| self.pull_image(r)).await
    }

    async fn remove_image(
        &self,
        req: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        serve(self, req, |r| self.remove_image(r)).await
    }

    async fn image_fs_info(
        &self,
        req: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        serve(self, req, |r| self.image_fs_info(r)).await
    }
}
