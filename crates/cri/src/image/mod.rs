//! The image service: pull, status, list, remove and filesystem usage
//! of images in namespace `k8s.io`.

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

impl CriService {
    /// `ListImages`.
    pub(crate) async fn list_images(
        &self,
        _req: cri::ListImagesRequest,
    ) -> Result<cri::ListImagesResponse> {
        Err(Error::Unimplemented { what: "ListImages" })
    }
    /// `ImageStatus`.
    pub(crate) async fn image_status(
        &self,
        _req: cri::ImageStatusRequest,
    ) -> Result<cri::ImageStatusResponse> {
        Err(Error::Unimplemented {
            what: "ImageStatus",
        })
    }

    /// `PullImage`.
    pub(crate) async fn pull_image(
        &self,
        _req: cri::PullImageRequest,
    ) -> Result<cri::PullImageResponse> {
        Err(Error::Unimplemented { what: "PullImage" })
    }

    /// `RemoveImage`.
    pub(crate) async fn remove_image(
        &self,
        _req: cri::RemoveImageRequest,
    ) -> Result<cri::RemoveImageResponse> {
        Err(Error::Unimplemented {
            what: "RemoveImage",
        })
    }

    /// `ImageFsInfo`.
    pub(crate) async fn image_fs_info(
        &self,
        _req: cri::ImageFsInfoRequest,
    ) -> Result<cri::ImageFsInfoResponse> {
        Err(Error::Unimplemented {
            what: "ImageFsInfo",
        })
    }
}
