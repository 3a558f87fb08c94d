//! The CRI services: [`CriService`] holds the plugin's state and serves
//! `runtime.v1.RuntimeService` (`runtime.rs`) and `runtime.v1.ImageService`
//! (`images.rs`) by delegating each RPC to a topic module.
//!
//! The plugin drives crated's own services (images, containers, tasks, …)
//! through `crated_client` over the daemon's socket, in namespace `k8s.io`,
//! as containerd's CRI plugin drives containerd through its client. The
//! connection is made on first use: the plugin is created before the
//! daemon listens.

mod images;
mod runtime;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crated_api::tonic::Status;
use crated_client::{Client, ConnectOptions};
use crated_config::plugins::CriConfig;
use tokio::sync::OnceCell;

use crate::cni::{Cni, CniOptions};
use crate::container::{ContainerStore, SpecOptions};
use crate::image::ImageCache;
use crate::sandbox::SandboxStore;
use crate::{Error, Result};

/// The namespace the CRI plugin keeps its images, containers and tasks in.
pub const NAMESPACE: &str = "k8s.io";

/// How long one CNI plugin invocation may run.
const CNI_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the plugin lives and what it talks to.
#[derive(Debug, Clone)]
pub struct CriOptions {
    /// The plugin's options.
    pub config: CriConfig,
    /// The daemon's gRPC socket, which the plugin connects to.
    pub address: PathBuf,
    /// The plugin's directory under the daemon root (persistent).
    pub root: PathBuf,
    /// The plugin's directory under the daemon state (pinned netns, CNI
    /// results, pod files).
    pub state: PathBuf,
}

/// The CRI plugin: cheap to clone, all clones share one state.
#[derive(Clone)]
pub struct CriService {
    pub(crate) inner: Arc<Inner>,
}

/// The state shared by every clone of a [`CriService`].
pub(crate) struct Inner {
    /// The plugin's options and paths.
    pub(crate) options: CriOptions,
    /// The connection to the daemon, in namespace `k8s.io`, once made.
    client: OnceCell<Client>,
    /// Pod sandboxes.
    pub(crate) sandboxes: SandboxStore,
    /// Containers in pods.
    pub(crate) containers: Arc<ContainerStore>,
    /// Spec settings and host facts, probed once.
    pub(crate) spec_options: SpecOptions,
    /// CNI networking.
    pub(crate) cni: Cni,
    /// The streaming server of Exec and PortForward, once started.
    pub(crate) stream_server: OnceCell<crate::streaming::StreamServer>,
    /// The last CPU sample per container (and pod): time used, taken at.
    pub(crate) cpu_samples: std::sync::Mutex<std::collections::HashMap<String, (u64, i64)>>,
    /// What image root digests resolve to.
    pub(crate) images: ImageCache,
    /// The pod CIDR kubelet last gave through UpdateRuntimeConfig.
    pub(crate) pod_cidr: RwLock<String>,
}

impl CriService {
    /// A service over `options`. Nothing is connected yet.
    pub fn new(options: CriOptions) -> CriService {
        let cni = Cni::new(CniOptions {
            bin_dirs: options
                .config
                .cni_bin_dirs()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            conf_dir: PathBuf::from(&options.config.cni.conf_dir),
            max_conf_num: usize::try_from(options.config.cni.max_conf_num).unwrap_or(0),
            cache_dir: options.state.join("cni"),
            plugin_timeout: CNI_PLUGIN_TIMEOUT,
        });
        let mut spec_options = SpecOptions::probe();
        spec_options.restrict_oom_score_adj |= options.config.restrict_oom_score_adj;
        spec_options.device_ownership_from_security_context =
            options.config.device_ownership_from_security_context;
        CriService {
            inner: Arc::new(Inner {
                options,
                client: OnceCell::new(),
                sandboxes: SandboxStore::default(),
                containers: Arc::new(ContainerStore::default()),
                spec_options,
                cni,
                stream_server: OnceCell::new(),
                cpu_samples: Default::default(),
                images: ImageCache::default(),
                pod_cidr: RwLock::new(String::new()),
            }),
        }
    }

    /// The plugin's options.
    pub(crate) fn config(&self) -> &CriConfig {
        &self.inner.options.config
    }

    /// Where containers keep their status files.
    pub(crate) fn containers_root(&self) -> PathBuf {
        self.inner.options.root.join("containers")
    }

    /// Where the FIFOs of container stdio live.
    pub(crate) fn fifo_root(&self) -> PathBuf {
        self.inner.options.state.join("io")
    }

    /// The client over the daemon's socket in namespace `k8s.io`,
    /// connecting on first use.
    pub(crate) async fn client(&self) -> Result<Client> {
        let address = &self.inner.options.address;
        self.inner
            .client
            .get_or_try_init(|| async {
                let options = ConnectOptions {
                    connect_timeout: Some(Duration::from_secs(10)),
                    request_timeout: None,
                };
                let client = Client::connect(address, options)
                    .await
                    .map(|c| c.namespace(NAMESPACE))
                    .map_err(Error::client(format!(
                        "connecting to crated's own socket {}",
                        address.display()
                    )))?;
                // Before any request is served: the pods and containers
                // of an earlier run, as crated still holds them.
                if let Err(e) = self.recover(&client).await {
                    tracing::warn!(error = %e, "recovering the CRI's pods and containers");
                }
                Ok::<Client, Error>(client)
            })
            .await
            .cloned()
    }
}

/// The gRPC status for an error of the plugin: containerd's code for its
/// kind and its `"<message>: <kind>"` text (the one conversion in
/// `crated_core::errconv`).
pub(crate) fn to_status(e: Error) -> Status {
    Status::from(crated_core::Error::from(e))
}

/// Serves one unary RPC: connects (and so recovers) first, unwraps the
/// request, runs `f`, converts the error.
pub(crate) async fn serve<Req, Resp, F>(
    service: &CriService,
    req: crated_api::tonic::Request<Req>,
    f: impl FnOnce(Req) -> F,
) -> std::result::Result<crated_api::tonic::Response<Resp>, Status>
where
    F: std::future::Future<Output = Result<Resp>>,
{
    service.client().await.map_err(to_status)?;
    f(req.into_inner())
        .await
        .map(crated_api::tonic::Response::new)
        .map_err(to_status)
}
