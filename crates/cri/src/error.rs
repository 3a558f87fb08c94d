//! The crate's error type.

use std::path::PathBuf;

use crated_core::{ErrorKind, HasKind};

/// What can go wrong in the CRI plugin: pod networking, the services
/// it drives, and requests it refuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading CNI config".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call on a network namespace failed.
    #[error("{what} {}: {source}", path.display())]
    Sys {
        /// What was being done, e.g. "pinning network namespace".
        what: &'static str,
        /// The namespace's pin path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A CNI network configuration is malformed.
    #[error("invalid CNI config {}: {reason}", path.display())]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// No network configuration was found where one is required.
    #[error("no network config found in {}: put a CNI .conflist or .conf file there", dir.display())]
    NoConfig {
        /// The configuration directory searched.
        dir: PathBuf,
    },
    /// A plugin named by a configuration is in none of the plugin directories.
    #[error("CNI plugin {plugin:?} not found in {dirs:?}: install it or fix bin_dir")]
    PluginNotFound {
        /// The plugin type.
        plugin: String,
        /// The directories searched.
        dirs: Vec<PathBuf>,
    },
    /// A plugin could not be started or its output could not be read.
    #[error("running CNI plugin {plugin:?} ({command}): {source}")]
    Exec {
        /// The plugin type.
        plugin: String,
        /// ADD, CHECK or DEL.
        command: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A plugin did not finish in time and was killed.
    #[error("CNI plugin {plugin:?} ({command}) did not finish within {seconds} s and was killed")]
    Timeout {
        /// The plugin type.
        plugin: String,
        /// ADD, CHECK or DEL.
        command: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// A plugin reported an error (CNI error object or non-zero exit).
    #[error("plugin type={plugin:?} failed ({command}): {message}")]
    Plugin {
        /// The plugin type.
        plugin: String,
        /// ADD, CHECK or DEL.
        command: &'static str,
        /// The CNI error code, when the plugin printed one.
        code: Option<u32>,
        /// The plugin's message (and details).
        message: String,
    },
    /// A plugin's result could not be understood.
    #[error("CNI plugin {plugin:?} returned an unusable result: {reason}")]
    BadResult {
        /// The plugin type.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument given by the caller is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// An object the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An object the request would create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The object is not in a state that allows the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request did not finish in the time it was given.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The request is one crated's CRI plugin does not serve (yet).
    #[error("{what} is not implemented by crated's CRI plugin yet")]
    Unimplemented {
        /// The RPC or feature, e.g. "CreateContainer".
        what: &'static str,
    },
    /// A call to crated's own services failed.
    #[error("{what}: {source}")]
    Client {
        /// What was being done, e.g. "pulling image \"busybox\"".
        what: String,
        /// The client's error, which carries the service's error kind.
        #[source]
        source: crated_client::Error,
    },
    /// A request refused by a part of the plugin that speaks crated's core
    /// errors (the streaming server, the name and id indexes).
    #[error(transparent)]
    Core(#[from] crated_core::Error),
    /// A container's runtime spec could not be built.
    #[error(transparent)]
    Spec(#[from] crated_oci::Error),
    /// A container's root filesystem could not be mounted (or unmounted)
    /// to copy the image's files into its image volumes.
    #[error("mounting the container's root filesystem to fill its image volumes: {0}")]
    Mount(#[from] crated_mount::MountError),
}

impl Error {
    /// Wraps a client error with what was being done.
    pub fn client(what: impl Into<String>) -> impl FnOnce(crated_client::Error) -> Error {
        let what = what.into();
        move |source| Error::Client { what, source }
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => crated_core::errconv::io_kind(source),
            Error::Sys { .. } | Error::Exec { .. } | Error::Mount(_) => ErrorKind::Unknown,
            Error::InvalidConfig { .. } | Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NoConfig { .. } | Error::PluginNotFound { .. } => ErrorKind::FailedPrecondition,
            Error::Timeout { .. } => ErrorKind::DeadlineExceeded,
            Error::Plugin { .. } | Error::BadResult { .. } => ErrorKind::Unknown,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            Error::DeadlineExceeded(_) => ErrorKind::DeadlineExceeded,
            Error::Unimplemented { .. } => ErrorKind::NotImplemented,
            Error::Client { source, .. } => source.kind(),
            Error::Spec(e) => e.kind(),
            Error::Core(e) => e.kind(),
        }
    }
}

impl From<Error> for crated_core::Error {
    fn from(e: Error) -> Self {
        crated_core::Error::wrap(e)
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
