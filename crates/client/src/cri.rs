//! The Kubernetes CRI (`runtime.v1.RuntimeService` and
//! `runtime.v1.ImageService`) on the client's connection, as kubelet and
//! `crictl` use it. CRI requests carry no namespace: the runtime keeps its
//! objects in `k8s.io`.

use crated_api::cri::image_service_client::ImageServiceClient;
use crated_api::cri::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

use crate::Client;

impl Client {
    /// A `runtime.v1.RuntimeService` client on this connection.
    pub fn cri_runtime(&self) -> RuntimeServiceClient<Channel> {
        grpc_client!(self, RuntimeServiceClient)
    }

    /// A `runtime.v1.ImageService` client on this connection.
    pub fn cri_images(&self) -> ImageServiceClient<Channel> {
        grpc_client!(self, ImageServiceClient)
    }
}
