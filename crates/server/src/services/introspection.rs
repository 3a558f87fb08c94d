//! `containerd.services.introspection.v1.Introspection`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crated_api::google::rpc::Status as RpcStatus;
use crated_api::server::introspection_server::{Introspection, IntrospectionServer};
use crated_api::services::v1::{
    DeprecationWarning, Plugin, PluginInfoRequest, PluginInfoResponse, PluginsRequest,
    PluginsResponse, ServerResponse,
};
use crated_api::tonic::{Request, Response, Status};
use crated_api::types::Platform;
use crated_core::filters::Adaptor;
use crated_core::{Error, ErrorKind};

use super::{GrpcService, parse_filters, timestamp};
use crate::plugin::{Outcome, PluginEntry, PluginSet};

/// A deprecated feature in use, reported by `Server`.
#[derive(Clone, Debug)]
pub struct Deprecation {
    /// containerd's deprecation id, e.g. `io.containerd.deprecation/config-v1`.
    pub id: String,
    /// What to do about it.
    pub message: String,
    /// When it was last seen.
    pub last_occurrence: chrono::DateTime<chrono::Utc>,
}

/// What Introspection reports; the plugin list is filled in once every
/// plugin has been initialised.
#[derive(Default)]
pub struct IntrospectionState {
    /// The plugins, set after init.
    pub plugins: OnceLock<PluginSet>,
    /// Deprecated features in use.
    pub deprecations: std::sync::Mutex<Vec<Deprecation>>,
}

impl IntrospectionState {
    /// Records that deprecated feature `id` was just used: its last
    /// occurrence is now (the entry is added on first use).
    pub fn record_deprecation(&self, id: &str, message: &str) {
        let Ok(mut list) = self.deprecations.lock() else {
            return;
        };
        let now = chrono::Utc::now();
        match list.iter_mut().find(|d| d.id == id) {
            Some(d) => d.last_occurrence = now,
            None => list.push(Deprecation {
                id: id.to_string(),
                message: message.to_string(),
                last_occurrence: now,
            }),
        }
    }
}

/// The Introspection service.
pub struct IntrospectionService {
    state: Arc<IntrospectionState>,
    uuid: String,
}

struct PluginFields<'a>(&'a PluginEntry);

impl Adaptor for PluginFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path {
            [f] if f == "type" => Some(self.0.plugin_type.clone()),
            [f] if f == "id" => Some(self.0.id.clone()),
            _ => None,
        }
    }
}

fn platform(p: &str) -> Platform {
    let mut parts = p.splitn(3, '/');
    Platform {
        os: parts.next().unwrap_or_default().to_string(),
        architecture: parts.next().unwrap_or_default().to_string(),
        variant: parts.next().unwrap_or_default().to_string(),
        os_version: String::new(),
    }
}

fn to_api(e: &PluginEntry) -> Plugin {
    let init_err = match &e.outcome {
        Outcome::Loaded(_) => None,
        Outcome::Skipped(reason) => Some(RpcStatus {
            code: crated_core::errconv::wire_code(ErrorKind::Unknown),
            message: if reason.contains("skip plugin") {
                reason.clone()
            } else {
                format!("{reason}: skip plugin")
            },
            details: vec![],
        }),
        Outcome::Failed(err) => Some(RpcStatus {
            code: crated_core::errconv::wire_code(err.kind()),
            message: err.to_string(),
            details: vec![],
        }),
    };
    Plugin {
        r#type: e.plugin_type.clone(),
        id: e.id.clone(),
        requires: e.requires.clone(),
        platforms: e.platforms.iter().map(|p| platform(p)).collect(),
        exports: e.exports.clone().into_iter().collect(),
        capabilities: e.capabilities.clone(),
        init_err,
    }
}

/// Reads the daemon's uuid from `dir/uuid`, creating it on first start.
pub fn load_or_create_uuid(dir: &Path) -> Result<String, Error> {
    let path = dir.join("uuid");
    match std::fs::read_to_string(&path) {
        Ok(s) if uuid::Uuid::parse_str(s.trim()).is_ok() => return Ok(s.trim().to_string()),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "invalid server uuid; generating a new one")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::with_source(
                ErrorKind::Internal,
                format_args!("reading {}", path.display()),
                e,
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::with_source(
            ErrorKind::Internal,
            format_args!("creating {}", dir.display()),
            e,
        )
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = dir.join("uuid.tmp");
    std::fs::write(&tmp, &id).map_err(|e| {
        Error::with_source(
            ErrorKind::Internal,
            format_args!("writing {}", tmp.display()),
            e,
        )
    })?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        Error::with_source(
            ErrorKind::Internal,
            format_args!("writing {}", path.display()),
            e,
        )
    })?;
    Ok(id)
}

fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .unwrap_or(0)
}

#[tonic::async_trait]
impl Introspection for IntrospectionService {
    async fn plugins(
        &self,
        req: Request<PluginsRequest>,
    ) -> Result<Response<PluginsResponse>, Status> {
        let filter = parse_filters(&req.into_inner().filters)?;
        let plugins = match self.state.plugins.get() {
            Some(set) => set
                .entries()
                .iter()
                .filter(|e| filter.matches(&PluginFields(e)))
                .map(to_api)
                .collect(),
            None => Vec::new(),
        };
        Ok(Response::new(PluginsResponse { plugins }))
    }

    async fn server(&self, _: Request<()>) -> Result<Response<ServerResponse>, Status> {
        let deprecations = match self.state.deprecations.lock() {
            Ok(list) => list
                .iter()
                .map(|d| DeprecationWarning {
                    id: d.id.clone(),
                    message: d.message.clone(),
                    last_occurrence: Some(timestamp(d.last_occurrence)),
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        Ok(Response::new(ServerResponse {
            uuid: self.uuid.clone(),
            pid: std::process::id() as u64,
            pidns: pid_namespace(),
            deprecations,
        }))
    }

    async fn plugin_info(
        &self,
        req: Request<PluginInfoRequest>,
    ) -> Result<Response<PluginInfoResponse>, Status> {
        let req = req.into_inner();
        Err(Status::from(Error::not_implemented(format!(
            "plugin info for {}.{} is not implemented by crated yet; use Plugins",
            req.r#type, req.id
        ))))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(state: Arc<IntrospectionState>, uuid: String) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            IntrospectionServer::new(IntrospectionService {
                state: state.clone(),
                uuid: uuid.clone(),
            })
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_uuid(dir.path()).unwrap();
        let b = load_or_create_uuid(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn platforms_split() {
        let p = platform("linux/arm64/v8");
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
            ("linux", "arm64", "v8")
        );
    }
}
