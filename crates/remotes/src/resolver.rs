//! The resolver: turns a reference into a descriptor, and hands out
//! fetchers and pushers for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crated_core::image::Descriptor;
use crated_core::{Error, ErrorKind, Result};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};

use crate::auth::{Authorizer, Credentials};
use crate::error::{error_from_io, status_error};
use crate::fetcher::Fetcher;
use crate::hosts::{Capabilities, HostOptions, TlsConfig, registry_endpoints, tls};
use crate::media_types;
use crate::pusher::Pusher;
use crate::reference::Reference;
use crate::request::{Base, RegistryHost, Request, RetryPolicy, Session};

/// The largest manifest accepted when resolving, as containerd's limit.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1048 * 1048;

/// Everything that configures a [`Resolver`].
#[derive(Debug, Clone)]
pub struct ResolverOptions {
    /// Endpoints: `hosts.toml` root, plain HTTP, default TLS.
    pub hosts: HostOptions,
    /// Credentials per registry host.
    pub credentials: Credentials,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The `User-Agent`.
    pub user_agent: String,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            hosts: HostOptions::default(),
            credentials: Credentials::none(),
            headers: Vec::new(),
            user_agent: format!("crated/{}", env!("CARGO_PKG_VERSION")),
            retry: RetryPolicy::default(),
        }
    }
}

impl ResolverOptions {
    /// Options reading `hosts.toml` files under `dir`.
    pub fn with_hosts_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.hosts.hosts_dir = Some(dir.into());
        self
    }

    /// Options with plain HTTP for every host (`--plain-http`).
    pub fn with_plain_http(mut self, plain_http: bool) -> Self {
        self.hosts.plain_http = plain_http;
        self
    }

    /// Options with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }
}

struct Inner {
    hosts: HostOptions,
    user_agent: String,
    session: Arc<Session>,
    clients: Mutex<HashMap<TlsConfig, reqwest::Client>>,
    endpoints: Mutex<HashMap<String, Arc<[RegistryHost]>>>,
}

/// Resolves references and opens fetchers and pushers, sharing one HTTP
/// client per TLS configuration and one token cache. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

impl Resolver {
    /// A resolver with `options`. Endpoint configuration is read when a
    /// registry is first used.
    pub fn new(options: ResolverOptions) -> Result<Resolver> {
        let headers = options
            .headers
            .iter()
            .map(|(k, v)| parse_header(k, v))
            .collect::<Result<_>>()?;
        Ok(Resolver {
            inner: Arc::new(Inner {
                hosts: options.hosts,
                user_agent: options.user_agent,
                session: Arc::new(Session {
                    authorizer: Authorizer::new(options.credentials),
                    headers,
                    retry: options.retry,
                }),
                clients: Mutex::new(HashMap::new()),
                endpoints: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The endpoints of registry `domain`, configured once and cached.
    fn endpoints(&self, domain: &str) -> Result<Arc<[RegistryHost]>> {
        if let Some(hosts) = self.lock_endpoints().get(domain) {
            return Ok(hosts.clone());
        }
        let mut hosts = Vec::new();
        for entry in registry_endpoints(domain, &self.inner.hosts)? {
            let Some(endpoint) = entry.endpoint else {
                continue;
            };
            let client = self.client(&entry.tls)?;
            let headers = entry
                .headers
                .iter()
                .map(|(k, v)| parse_header(k, v))
                .collect::<Result<_>>()?;
            hosts.push(RegistryHost {
                endpoint,
                capabilities: entry.capabilities,
                headers,
                client,
            });
        }
        let hosts: Arc<[RegistryHost]> = hosts.into();
        self.lock_endpoints()
            .insert(domain.to_string(), hosts.clone());
        Ok(hosts)
    }

    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[RegistryHost]>>> {
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn client(&self, tls_config: &TlsConfig) -> Result<reqwest::Client> {
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.get(tls_config) {
            return Ok(c.clone());
        }
        let client = tls::build_client(tls_config, &self.inner.user_agent)?;
        clients.insert(tls_config.clone(), client.clone());
        Ok(client)
    }

    fn base(&self, reference: &str) -> Result<Arc<Base>> {
        let reference = Reference::parse(reference)?;
        let hosts = self.endpoints(reference.domain())?;
        Ok(Arc::new(Base {
            reference,
            hosts,
            session: self.inner.session.clone(),
        }))
    }

    /// A fetcher for the repository of `reference`.
    pub fn fetcher(&self, reference: &str) -> Result<Fetcher> {
        Ok(Fetcher::new(self.base(reference)?))
    }

    /// A pusher to the repository (and tag) of `reference`.
    pub fn pusher(&self, reference: &str) -> Result<Pusher> {
        Ok(Pusher::new(self.base(reference)?))
    }

    /// Resolves `reference` to its normalised name and the descriptor of the
    /// manifest or index it names: a HEAD on `/manifests/<tag|digest>` (a
    /// GET when the registry gives no digest or size), on each endpoint
    /// with resolve capability (pull only, for digests) in turn.
    pub async fn resolve(&self, reference: &str) -> Result<(String, Descriptor)> {
        let base = self.base(reference)?;
        let name = base.reference.to_string();
        let digest = base.reference.digest().map(str::to_string);
        let (paths, caps): (Vec<[&str; 2]>, _) = match &digest {
            Some(d) => (vec![["manifests", d], ["blobs", d]], Capabilities::PULL),
            None => (
                vec![["manifests", base.reference.object()]],
                Capabilities::PULL | Capabilities::RESOLVE,
            ),
        };
        let hosts = base.hosts_with(caps);
        if hosts.is_empty() {
            return Err(Error::not_found(format!("no resolve hosts for {name}")));
        }
        let scopes = [base.scope(false)];
        let mut first_err: Option<Error> = None;
        for path in &paths {
            for host in &hosts {
                match resolve_on(&base, host, path, digest.as_deref(), &scopes).await {
                    Ok(Some(desc)) => return Ok((name, desc)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, host = %host.endpoint.host, "trying next host");
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or_else(|| Error::not_found(name)))
    }
}

/// Resolves on one endpoint: `None` when it answers 404.
async fn resolve_on(
    base: &Base,
    host: &RegistryHost,
    path: &[&str; 2],
    digest: Option<&str>,
    scopes: &[String],
) -> Result<Option<Descriptor>> {
    let url = base.url(host, path)?;
    let req =
        Request::new(Method::HEAD, url.clone()).header(ACCEPT, &media_types::resolve_accept())?;
    let what = req.describe();
    let resp = base
        .send(host, req, scopes)
        .await
        .map_err(|e| pull_denied(e, &base.reference))?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(pull_denied(
            status_error(resp, &what).await,
            &base.reference,
        ));
    }
    let mut media_type = content_type(&resp);
    let mut size = header_u64(&resp, CONTENT_LENGTH);
    let header_digest = header_str(&resp, HeaderName::from_static("docker-content-digest"));
    let mut digest = digest.map(str::to_string);
    if digest.is_none()
        && size.is_some()
        && let Some(d) = header_digest
    {
        crated_core::digest::validate(&d).map_err(|e| {
            Error::unknown(format!(
                "{d:?} in header not a valid digest: {}",
                e.message()
            ))
        })?;
        digest = Some(d);
    }
    if digest.is_none() || size.is_none() {
        // No digest or size from HEAD: read the manifest and hash it.
        let req = Request::new(Method::GET, url).header(ACCEPT, &media_types::resolve_accept())?;
        let what = req.describe();
        let resp = base.send(host, req, scopes).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(status_error(resp, &what).await);
        }
        media_type = content_type(&resp);
        let body = read_manifest(resp, &what).await?;
        if digest.is_none() {
            digest = Some(crated_core::digest::sha256(&body));
        }
        size = Some(body.len() as u64);
    }
    let size = size.unwrap_or(0);
    if size > MAX_MANIFEST_SIZE {
        return Err(Error::not_found(format!(
            "rejecting {size} byte manifest for {}",
            base.reference
        )));
    }
    if path[0] == "manifests" && !media_types::is_supported_manifest(&media_type) {
        return Err(unsupported(&media_type, &base.reference));
    }
    Ok(Some(Descriptor {
        media_type,
        digest: digest.unwrap_or_default(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        annotations: HashMap::new(),
    }))
}

/// Reads a manifest body, refusing one over [`MAX_MANIFEST_SIZE`].
async fn read_manifest(mut resp: Response, what: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| error_from_io(std::io::Error::other(e)).context(what))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!("{what}: manifest larger than {MAX_MANIFEST_SIZE} bytes"),
            ));
        }
    }
    Ok(body)
}

/// `NotImplemented` for a manifest type crated cannot read.
fn unsupported(media_type: &str, reference: &Reference) -> Error {
    if media_type == media_types::DOCKER_SCHEMA1_MANIFEST {
        return Error::not_implemented(format!(
            "{reference}: Docker schema 1 manifests are not supported; push the image again with a current client"
        ));
    }
    Error::not_implemented(format!(
        "{reference}: unsupported manifest media type {media_type:?}"
    ))
}

/// containerd's message for an authorization failure while pulling.
fn pull_denied(err: Error, reference: &Reference) -> Error {
    if matches!(
        err.kind(),
        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
    ) {
        return err.context(format!(
            "pull access denied for {reference}, repository does not exist or may require authorization"
        ));
    }
    err
}

fn content_type(resp: &Response) -> String {
    header_str(resp, CONTENT_TYPE)
        .map(|ct| media_types::from_content_type(&ct))
        .unwrap_or_default()
}

fn header_str(resp: &Response, name: HeaderName) -> Option<String> {
    resp.headers().get(name)?.to_str().ok().map(str::to_string)
}

fn header_u64(resp: &Response, name: HeaderName) -> Option<u64> {
    header_str(resp, name)?.trim().parse().ok()
}

/// A header from configuration, validated.
fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_argument(format!("invalid header name {name:?}")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_argument(format!("invalid value for header {name:?}")))?;
    Ok((n, v))
}
