//! The Transfer service (`containerd.services.transfer.v1.Transfer`): the
//! daemon pulls from or pushes to a registry, and reports progress on a
//! stream the client opened with the streaming service.
//!
//! A pull names an `OCIRegistry` source and an `ImageStore` destination;
//! a push the reverse. The registry part carries the resolver settings:
//! the `hosts.toml` directory, `http` as the default scheme for plain-HTTP
//! registries and extra headers. Credentials are given on an auth stream
//! when the daemon asks for them (an `Authorization` header for a daemon
//! without a streaming service).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::services::v1::transfer_client::TransferClient;
use crated_api::services::v1::{TransferOptions, TransferRequest};
use crated_api::types::Platform as ApiPlatform;
use crated_api::types::transfer::{
    ImageStore, OciRegistry, Progress as ApiProgress, RegistryResolver, UnpackConfiguration,
};
use crated_core::image::Descriptor;
/// Platforms as the transfer, import and export options name them.
pub use crated_images::Platform;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::streaming;
use crate::transfer_auth::AuthAnswerer;

/// How long to keep reading progress after the transfer call returned:
/// the daemon closes the stream right after its last report.
const PROGRESS_DRAIN: Duration = Duration::from_secs(2);

/// What a user authenticates to a registry with: a user name and password,
/// or an identity (refresh) token with an empty user name. The daemon asks
/// for them on the transfer's auth stream when the registry challenges.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password or token.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Splits `user:password` (ctr's `--user`); a value without a colon has
    /// no password yet (`None`).
    pub fn parse(text: &str) -> Option<Credentials> {
        text.split_once(':').map(|(user, secret)| Credentials {
            user: user.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The `Authorization` header value for Basic authentication.
    pub fn basic_header(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.secret));
        format!("Basic {token}")
    }
}

/// How the daemon reaches the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Use HTTP instead of HTTPS when no `hosts.toml` says otherwise.
    pub plain_http: bool,
    /// Directory of containerd-style `hosts.toml` files (`<host>/hosts.toml`).
    pub hosts_dir: Option<PathBuf>,
    /// The user's credentials.
    pub credentials: Option<Credentials>,
    /// More headers sent with every registry request.
    pub headers: HashMap<String, String>,
}

impl RegistryOptions {
    /// The registry of a transfer of `reference`, with credentials given on
    /// auth stream `auth` (else in a Basic header).
    fn to_registry(&self, reference: &str, auth: Option<&AuthAnswerer>) -> OciRegistry {
        let mut headers = self.headers.clone();
        if let (Some(credentials), None) = (&self.credentials, auth) {
            headers.insert("Authorization".to_string(), credentials.basic_header());
        }
        OciRegistry {
            reference: reference.to_string(),
            resolver: Some(RegistryResolver {
                headers,
                host_dir: self
                    .hosts_dir
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                default_scheme: if self.plain_http { "http" } else { "" }.to_string(),
                auth_stream: auth.map(|a| a.id().to_string()).unwrap_or_default(),
                ..Default::default()
            }),
        }
    }
}

/// What a pull does besides fetching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullOptions {
    /// The registry settings.
    pub registry: RegistryOptions,
    /// The platforms to fetch; the host's when empty (unless
    /// `all_platforms`).
    pub platforms: Vec<Platform>,
    /// Fetch every platform of a multi-platform image.
    pub all_platforms: bool,
    /// Unpack the fetched image (one unpack per platform asked for, the
    /// host's by default) into `snapshotter`.
    pub unpack: bool,
    /// The snapshotter to unpack into; the daemon's default when empty.
    pub snapshotter: String,
    /// Labels of the new image record.
    pub labels: HashMap<String, String>,
    /// The image record's name; the resolved reference when `None`.
    pub name: Option<String>,
}

/// What a push does besides sending the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// The registry settings.
    pub registry: RegistryOptions,
}

/// One progress report of a transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// What happened: `resolving`, `resolved`, `waiting`, `downloading`,
    /// `complete`, `already exists`, `unpacking`, `unpacked`, `saved` for a
    /// pull; `uploading`, `complete`, `already exists`, `mounted`, `pushed`
    /// for a push.
    pub event: String,
    /// What it happened to: a blob digest, or the reference for the
    /// events about the whole image.
    pub name: String,
    /// The parents of `name` in the image, when the daemon says.
    pub parents: Vec<String>,
    /// Bytes done.
    pub progress: i64,
    /// Bytes in all.
    pub total: i64,
    /// The descriptor, when the daemon sends one.
    pub descriptor: Option<Descriptor>,
}

impl From<ApiProgress> for Progress {
    fn from(p: ApiProgress) -> Self {
        Progress {
            event: p.event,
            name: p.name,
            parents: p.parents,
            progress: p.progress,
            total: p.total,
            descriptor: p.desc.map(|d| Descriptor {
                media_type: d.media_type,
                digest: d.digest,
                size: d.size,
                annotations: d.annotations,
            }),
        }
    }
}

fn api_platform(p: &Platform) -> ApiPlatform {
    ApiPlatform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
        os_version: p.os_version.clone(),
    }
}

fn to_any<M: Message + Name>(message: &M) -> Any {
    Any {
        type_url: M::full_name(),
        value: message.encode_to_vec(),
    }
}

/// The `ImageStore` a pull of `reference` writes to.
pub fn pull_destination(reference: &str, options: &PullOptions) -> ImageStore {
    let host = Platform::host();
    // containerd reads no platforms as every platform.
    let platforms: Vec<Platform> = if options.all_platforms {
        Vec::new()
    } else if options.platforms.is_empty() {
        vec![host.clone()]
    } else {
        options.platforms.clone()
    };
    let unpack_platforms = if options.platforms.is_empty() {
        vec![host]
    } else {
        options.platforms.clone()
    };
    let unpacks = if options.unpack {
        unpack_platforms
            .iter()
            .map(|p| UnpackConfiguration {
                platform: Some(api_platform(p)),
                snapshotter: options.snapshotter.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    ImageStore {
        name: options
            .name
            .clone()
            .unwrap_or_else(|| reference.to_string()),
        labels: options.labels.clone(),
        platforms: platforms.iter().map(api_platform).collect(),
        unpacks,
        ..Default::default()
    }
}

/// Handle on the Transfer service.
#[derive(Debug, Clone)]
pub struct Transfer {
    client: Client,
}

impl Transfer {
    /// The Transfer service on `client`'s connection and namespace.
    pub fn new(client: &Client) -> Transfer {
        Transfer {
            client: client.clone(),
        }
    }

    /// Pulls `reference` from its registry into the image store, calling
    /// `on_progress` with each report.
    pub async fn pull(
        &self,
        reference: &str,
        options: &PullOptions,
        on_progress: impl FnMut(Progress),
    ) -> Result<()> {
        let auth = self.auth_answerer(&options.registry).await?;
        let source = options.registry.to_registry(reference, auth.as_ref());
        let destination = pull_destination(reference, options);
        self.run(to_any(&source), to_any(&destination), auth, on_progress)
            .await
    }

    /// Pushes image `name` of the image store to `reference`, calling
    /// `on_progress` with each report.
    pub async fn push(
        &self,
        name: &str,
        reference: &str,
        options: &PushOptions,
        on_progress: impl FnMut(Progress),
    ) -> Result<()> {
        let source = ImageStore {
            name: name.to_string(),
            ..Default::default()
        };
        let auth = self.auth_answerer(&options.registry).await?;
        let destination = options.registry.to_registry(reference, auth.as_ref());
        self.run(to_any(&source), to_any(&destination), auth, on_progress)
            .await
    }

    /// An auth stream for the registry's credentials, if it has any and
    /// the daemon streams.
    async fn auth_answerer(&self, registry: &RegistryOptions) -> Result<Option<AuthAnswerer>> {
        match &registry.credentials {
            Some(credentials) => AuthAnswerer::open(&self.client, credentials).await,
            None => Ok(None),
        }
    }

    /// Transfers from `source` to `destination` (both `Any`s of
    /// `containerd.types.transfer` messages) with progress reports.
    ///
    /// If the daemon has no streaming service, the transfer runs without
    /// progress.
    pub async fn transfer(
        &self,
        source: Any,
        destination: Any,
        on_progress: impl FnMut(Progress),
    ) -> Result<()> {
        self.run(source, destination, None, on_progress).await
    }

    /// [`Transfer::transfer`], answering the daemon's questions on `auth`.
    async fn run(
        &self,
        source: Any,
        destination: Any,
        auth: Option<AuthAnswerer>,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<()> {
        // Answered apart from the progress, so that no answer is dropped
        // half sent; the daemon closes the stream when the transfer ends.
        let answering =
            auth.map(|mut auth| tokio::spawn(async move { while auth.answer_next().await {} }));
        let result = self.call(source, destination, &mut on_progress).await;
        if let Some(answering) = answering {
            answering.abort();
        }
        result
    }

    /// The Transfer call itself, reporting progress as it comes.
    async fn call(
        &self,
        source: Any,
        destination: Any,
        on_progress: &mut impl FnMut(Progress),
    ) -> Result<()> {
        let id = format!("progress-{}", crate::leases::generate_id());
        let mut stream = match streaming::open(&self.client, &id).await {
            Ok(stream) => Some(stream),
            Err(err) if err.kind() == crated_core::ErrorKind::NotImplemented => {
                tracing::debug!(error = %err, "no progress: the daemon has no streaming service");
                None
            }
            Err(err) => return Err(err),
        };
        let request = TransferRequest {
            source: Some(source),
            destination: Some(destination),
            options: Some(TransferOptions {
                progress_stream: stream
                    .as_ref()
                    .map(|s| s.id().to_string())
                    .unwrap_or_default(),
            }),
        };
        // A transfer takes as long as it takes: no request timeout.
        let request = self.client.request(request)?;
        let mut grpc = grpc_client!(self.client, TransferClient);
        let call = grpc.transfer(request);
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                message = next_message(stream.as_mut()) => match message {
                    Some(any) => report(&any, on_progress),
                    None => stream = None,
                },
            }
        };
        if let Some(mut open) = stream {
            // What the daemon sent before it answered.
            let drain = async {
                while let Ok(Some(any)) = open.recv().await {
                    report(&any, on_progress);
                }
            };
            let _ = tokio::time::timeout(PROGRESS_DRAIN, drain).await;
        }
        result
            .map(|_| ())
            .map_err(|status| self.client.status_error(status))
    }
}

/// The next message on `stream`, `None` once it is closed; never ready
/// without a stream.
async fn next_message(stream: Option<&mut streaming::Stream>) -> Option<Any> {
    match stream {
        Some(stream) => stream.recv().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// Decodes a progress message and hands it over; anything else on the
/// stream is skipped.
fn report(any: &Any, on_progress: &mut impl FnMut(Progress)) {
    let name = any.type_url.rsplit('/').next().unwrap_or(&any.type_url);
    if name != ApiProgress::full_name() {
        return;
    }
    match ApiProgress::decode(any.value.as_slice()) {
        Ok(p) => on_progress(p.into()),
        Err(err) => tracing::debug!(error = %err, "undecodable progress message"),
    }
}

/// Makes sure a pull's options make sense before asking the daemon.
pub fn validate_pull(options: &PullOptions) -> Result<()> {
    if options.all_platforms && !options.platforms.is_empty() {
        return Err(Error::InvalidArgument(
            "--all-platforms and --platform exclude each other".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(s: &str) -> Platform {
        Platform::parse(s).unwrap_or_default()
    }

    #[test]
    fn credentials_become_a_basic_header() {
        let c = Credentials::parse("alice:s3cr:et");
        assert_eq!(
            c.as_ref().map(|c| (c.user.as_str(), c.secret.as_str())),
            Some(("alice", "s3cr:et"))
        );
        let header = c.map(|c| c.basic_header());
        assert_eq!(header.as_deref(), Some("Basic YWxpY2U6czNjcjpldA=="));
        assert!(Credentials::parse("alice").is_none());
        let debug = format!("{:?}", Credentials::parse("a:b"));
        assert!(!debug.contains("\"b\""), "{debug}");
    }

    #[test]
    fn registry_options_fill_the_resolver() {
        let options = RegistryOptions {
            plain_http: true,
            hosts_dir: Some(PathBuf::from("/etc/hosts.d")),
            credentials: Credentials::parse("u:p"),
            headers: HashMap::from([("X-Test".to_string(), "1".to_string())]),
        };
        let registry = options.to_registry("localhost:5000/a:1", None);
        assert_eq!(registry.reference, "localhost:5000/a:1");
        let resolver = registry.resolver.unwrap_or_default();
        assert_eq!(resolver.default_scheme, "http");
        assert_eq!(resolver.host_dir, "/etc/hosts.d");
        assert_eq!(resolver.headers["X-Test"], "1");
        assert!(resolver.headers["Authorization"].starts_with("Basic "));
        let https = RegistryOptions::default().to_registry("r", None);
        assert_eq!(https.resolver.unwrap_or_default().default_scheme, "");
    }

    #[test]
    fn pull_destination_platforms_and_unpacks() {
        let host = api_platform(&Platform::host());
        let plain = pull_destination("r:1", &PullOptions::default());
        assert_eq!(plain.name, "r:1");
        assert_eq!(plain.platforms, vec![host.clone()]);
        assert!(plain.unpacks.is_empty());

        let unpack = pull_destination(
            "r:1",
            &PullOptions {
                unpack: true,
                snapshotter: "native".into(),
                name: Some("other:2".into()),
                ..Default::default()
            },
        );
        assert_eq!(unpack.name, "other:2");
        assert_eq!(unpack.unpacks.len(), 1);
        assert_eq!(unpack.unpacks[0].snapshotter, "native");
        assert_eq!(unpack.unpacks[0].platform.as_ref(), Some(&host));

        let all = pull_destination(
            "r:1",
            &PullOptions {
                all_platforms: true,
                unpack: true,
                ..Default::default()
            },
        );
        assert!(all.platforms.is_empty());
        assert_eq!(all.unpacks.len(), 1);

        let arm = platform("linux/arm64");
        let two = pull_destination(
            "r:1",
            &PullOptions {
                platforms: vec![arm.clone(), platform("linux/amd64")],
                unpack: true,
                ..Default::default()
            },
        );
        assert_eq!(two.platforms.len(), 2);
        assert_eq!(two.unpacks.len(), 2);
        assert_eq!(two.platforms[0], api_platform(&arm));
    }

    #[test]
    fn progress_is_decoded_from_any() {
        let message = ApiProgress {
            event: "downloading".into(),
            name: "sha256:ab".into(),
            progress: 5,
            total: 10,
            ..Default::default()
        };
        let mut seen = Vec::new();
        report(&to_any(&message), &mut |p| seen.push(p));
        let other = Any {
            type_url: "containerd.types.transfer.Data".into(),
            value: Vec::new(),
        };
        report(&other, &mut |p| seen.push(p));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].event, "downloading");
        assert_eq!((seen[0].progress, seen[0].total), (5, 10));
    }

    #[test]
    fn all_platforms_and_platform_conflict() {
        let options = PullOptions {
            all_platforms: true,
            platforms: vec![Platform::host()],
            ..Default::default()
        };
        assert!(validate_pull(&options).is_err());
        assert!(validate_pull(&PullOptions::default()).is_ok());
    }
}
