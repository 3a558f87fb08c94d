//! Daemon lifecycle: directories, plugins, sockets, serving and shutdown.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crated_config::Config;
use crated_core::Error;
use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::Routes;

use crate::authority::AuthorityFix;
use crate::exchange::Exchange;
use crate::plugin::{self, InitSettings, PluginSet};
use crate::plugins::{self, GRPC};
use crate::services::GrpcService;
use crate::services::introspection::{Deprecation, IntrospectionState};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// An initialised daemon, ready to serve.
pub struct Daemon {
    config: Config,
    plugins: PluginSet,
    _root_lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes an exclusive lock on `<root>/crated.lock`, so two daemons never
/// share a root (the second one stops with a clear message).
fn lock_root(root: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, Error> {
    let path = root.join("crated.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("opening {}", path.display()),
                e,
            )
        })?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
        |(_, errno)| {
            Error::unavailable(format!(
                "root {} is locked by another daemon ({errno}); stop it or use another --root",
                root.display()
            ))
        },
    )
}

fn create_dir(path: &Path, mode: u32) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("creating directory {}", path.display()),
            e,
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("setting permissions of {}", path.display()),
            e,
        )
    })
}

/// Removes a stale socket file and binds a fresh unix listener with `mode`
/// and owner `uid:gid`.
fn bind(path: &Path, mode: u32, uid: i64, gid: i64) -> Result<UnixListener, Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("creating socket directory {}", dir.display()),
                e,
            )
        })?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("removing stale socket {}", path.display()),
                e,
            ));
        }
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        Error::unavailable(format!(
            "listening on {}: {e} (is another daemon using this address?)",
            path.display()
        ))
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("setting permissions of {}", path.display()),
            e,
        )
    })?;
    if uid != 0 || gid != 0 {
        let to_id = |v: i64| u32::try_from(v).ok();
        nix::unistd::chown(
            path,
            to_id(uid).map(nix::unistd::Uid::from_raw),
            to_id(gid).map(nix::unistd::Gid::from_raw),
        )
        .map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("changing owner of {} to {uid}:{gid}", path.display()),
                e,
            )
        })?;
    }
    Ok(listener)
}

impl Daemon {
    /// Creates the root and state directories and initialises every plugin.
    pub fn init(config: Config, deprecations: Vec<Deprecation>) -> Result<Self, Error> {
        // Only root may enter (CVE-2021-41103); roots made 0711 by earlier
        // versions are tightened here.
        create_dir(&config.root, 0o700)?;
        create_dir(&config.state, 0o700)?;
        let root_lock = lock_root(&config.root)?;
        let introspection = Arc::new(IntrospectionState::default());
        if let Ok(mut list) = introspection.deprecations.lock() {
            *list = deprecations;
        }
        let lookup = |t: &str, id: &str| config.plugin_section(t, id);
        let settings = InitSettings {
            root: config.root.clone(),
            state: config.state.clone(),
            disabled: &config.disabled_plugins,
            config: &lookup,
            introspection: introspection.clone(),
            daemon: Arc::new(crate::plugin::DaemonInfo {
                grpc_address: PathBuf::from(&config.grpc.address),
                ttrpc_address: config.ttrpc_address(),
                debug: matches!(config.debug.level.as_str(), "debug" | "trace"),
                shim_timeouts: plugins::runtime::task::shim_timeouts(&config)
                    .map_err(|e| Error::invalid_argument(e.to_string()))?,
            }),
        };
        let plugins = plugin::init_all(&plugins::registrations(), &settings)?;
        plugin::check_essential(
            &plugins,
            &[
                (plugins::CONTENT, "content store"),
                (plugins::METADATA, "metadata store"),
            ],
        )?;
        plugin::check_required(&plugins, &config.required_plugins)?;
        let _ = introspection.plugins.set(plugins.clone());
        Ok(Daemon {
            config,
            plugins,
            _root_lock: root_lock,
        })
    }

    /// The plugins as initialised.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }

    /// Starts the Prometheus endpoint when `[metrics] address` is set: the
    /// gRPC layer that feeds it and the sender that stops it.
    async fn start_metrics(
        &self,
    ) -> Result<
        (
            Option<crate::metrics::grpc::GrpcMetricsLayer>,
            Option<tokio::sync::oneshot::Sender<()>>,
        ),
        Error,
    > {
        let m = &self.config.metrics;
        if m.address.is_empty() {
            return Ok((None, None));
        }
        let listener = crate::metrics::bind(&m.address).await?;
        let (endpoint, layer) =
            crate::metrics::Endpoint::new(m.grpc_histogram, self.metrics_sources()).map_err(
                |e| {
                    Error::with_source(
                        crated_core::ErrorKind::Internal,
                        "registering the metrics",
                        e,
                    )
                },
            )?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tracing::info!(address = %m.address, path = crate::metrics::http::PATH, "serving metrics");
        tokio::spawn(crate::metrics::serve(listener, endpoint, async move {
            let _ = stopped.await;
        }));
        Ok((Some(layer), Some(stop)))
    }

    /// The loaded plugins the metrics read.
    fn metrics_sources(&self) -> crate::metrics::Sources {
        use crate::plugins::content::content::ContentBackend;
        use crate::plugins::metadata::bolt::Metadata;
        use crate::plugins::monitor::cgroups::TaskMonitor;
        let monitor: Option<Arc<TaskMonitor>> = self.plugins.first(plugins::MONITOR).ok();
        let metadata: Option<Arc<Metadata>> = self.plugins.first(plugins::METADATA).ok();
        let shims: Option<Arc<Arc<crated_runtime::ShimManager>>> =
            self.plugins.first(plugins::RUNTIME).ok();
        let content: Option<Arc<ContentBackend>> = self.plugins.first(plugins::CONTENT).ok();
        crate::metrics::Sources {
            tasks: monitor.and_then(|m| m.collector.clone()),
            stores: crate::metrics::own::Stores {
                shims: shims.map(|s| (*s).clone()),
                content: content.map(|c| c.0.clone()),
                snapshots: metadata.map(|m| (m.namespaces.clone(), m.snapshots.clone())),
            },
        }
    }

    /// Serves gRPC and ttrpc until `shutdown` resolves, then removes the sockets.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let grpc_path = PathBuf::from(&self.config.grpc.address);
        let ttrpc_path = self.config.ttrpc_address();
        let g = &self.config.grpc;
        let listener = bind(&grpc_path, 0o660, g.uid, g.gid)?;
        let limits = crate::services::MessageLimits {
            recv: usize::try_from(g.max_recv_message_size)
                .ok()
                .filter(|v| *v > 0)
                .unwrap_or(crated_api::DEFAULT_MAX_MESSAGE_SIZE),
            send: usize::try_from(g.max_send_message_size)
                .ok()
                .filter(|v| *v > 0)
                .unwrap_or(crated_api::DEFAULT_MAX_MESSAGE_SIZE),
        };
        let mut routes = Routes::default();
        for (id, service) in self.plugins.all::<GrpcService>(GRPC) {
            tracing::debug!(id, "registering gRPC service");
            routes = service.register(routes, limits);
        }
        let exchange: Arc<Exchange> = self.plugins.first(plugins::EVENT)?;
        let t = &self.config.ttrpc;
        let ttrpc_listener = bind(&ttrpc_path, 0o660, t.uid, t.gid)?;
        let mut ttrpc_server = crated_api::ttrpc::ttrpc::r#async::Server::new()
            .add_listener(ttrpc_listener.into())
            .register_service(crate::ttrpc_events::services((*exchange).clone()));
        ttrpc_server.start().await.map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("starting ttrpc server on {}", ttrpc_path.display()),
                e,
            )
        })?;
        let (metrics_layer, metrics_stop) = self.start_metrics().await?;
        tracing::info!(address = %grpc_path.display(), ttrpc = %ttrpc_path.display(), "serving");
        crate::notify::notify(crate::notify::READY);
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let streams = exchange.clone();
        let graceful = async move {
            shutdown.await;
            // Event subscribers never leave on their own; end their streams
            // so the graceful shutdown below does not wait for them.
            streams.close();
            let _ = signalled_tx.send(());
            if let Some(stop) = metrics_stop {
                let _ = stop.send(());
            }
        };
        let server = tonic::transport::Server::builder()
            .layer(tower::util::option_layer(metrics_layer))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                UnixListenerStream::new(listener).map(|conn| conn.map(AuthorityFix::new)),
                graceful,
            );
        tokio::pin!(server);
        let result = tokio::select! {
            result = &mut server => result,
            _ = async {
                let _ = signalled_rx.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("requests still open after the shutdown grace period; closing them");
                Ok(())
            }
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, ttrpc_server.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "stopping ttrpc server"),
            Err(_) => tracing::warn!(
                "ttrpc connections still open after the shutdown grace period; closing them"
            ),
        }
        for path in [&grpc_path, &ttrpc_path] {
            let _ = std::fs::remove_file(path);
        }
        result.map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                format_args!("gRPC server on {}", grpc_path.display()),
                e,
            )
        })
    }
}
