//! Sending one registry request: endpoint URLs, headers, authorization
//! after a 401 challenge, HEAD→GET fallback, and retries of transient
//! failures.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crated_core::{Error, Result};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};

use crate::auth::Authorizer;
use crate::error::transport_error;
use crate::hosts::{Capabilities, Endpoint};
use crate::reference::Reference;

/// How many times a request is sent at most, counting authorization
/// round trips and retries.
const MAX_ROUND_TRIPS: u32 = 8;

/// When transient failures are retried: connection resets and timeouts
/// before a response, and 408, 429, 502, 503 and 504 responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (1 disables retries).
    pub attempts: u32,
    /// The delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// The longest delay, also the cap on a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `n` (1-based).
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// An endpoint with the HTTP client for its TLS settings.
#[derive(Clone)]
pub(crate) struct RegistryHost {
    pub(crate) endpoint: Endpoint,
    pub(crate) capabilities: Capabilities,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) client: reqwest::Client,
}

/// What every request of one resolver shares.
pub(crate) struct Session {
    pub(crate) authorizer: Authorizer,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) retry: RetryPolicy,
}

/// A request body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// Bytes, which can be sent again.
    Bytes(Bytes),
    /// A stream, sent once; taken by the first attempt.
    Once(Option<reqwest::Body>),
}

/// One request to send.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

impl Request {
    pub(crate) fn new(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// Sets header `name` (a static, valid name) to `value`.
    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Result<Request> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_argument(format!("invalid value for header {name}: {value:?}"))
        })?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// `METHOD url`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

/// `host[:port]` of `url`, the key of per-host authorization.
pub(crate) fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// A repository on its registry's endpoints: the base of a fetcher, a
/// pusher or one resolve.
pub(crate) struct Base {
    pub(crate) reference: Reference,
    pub(crate) hosts: Arc<[RegistryHost]>,
    pub(crate) session: Arc<Session>,
}

impl Base {
    /// The endpoints with all of `caps`, in order.
    pub(crate) fn hosts_with(&self, caps: Capabilities) -> Vec<&RegistryHost> {
        self.hosts
            .iter()
            .filter(|h| h.capabilities.contains(caps))
            .collect()
    }

    /// `repository:<repo>:pull` (and `,push`).
    pub(crate) fn scope(&self, push: bool) -> String {
        let actions = if push { "pull,push" } else { "pull" };
        format!("repository:{}:{actions}", self.reference.repository())
    }

    /// The URL of `<api root>/<repository>/<parts…>` on `host`. A mirror
    /// (an endpoint other than the reference's registry) gets the `ns`
    /// query parameter naming the registry, as containerd sends it.
    pub(crate) fn url(&self, host: &RegistryHost, parts: &[&str]) -> Result<Url> {
        let ep = &host.endpoint;
        let mut text = format!(
            "{}://{}{}/{}",
            ep.scheme,
            ep.host,
            ep.path,
            self.reference.repository()
        );
        for part in parts {
            text.push('/');
            text.push_str(part);
        }
        let mut url = Url::parse(&text).map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::InvalidArgument,
                format_args!("invalid registry URL {text:?}"),
                e,
            )
        })?;
        let domain = self.reference.domain();
        let is_upstream =
            ep.host == domain || (domain == "docker.io" && ep.host == "registry-1.docker.io");
        if !is_upstream {
            url.query_pairs_mut().append_pair("ns", domain);
        }
        Ok(url)
    }

    /// Sends `req` to `host`, authorizing for `scopes`: answers a 401
    /// challenge and sends again, turns a refused HEAD on a manifest into a
    /// GET, and retries transient failures. Returns the final response,
    /// whatever its status; errors only when no response came.
    pub(crate) async fn send(
        &self,
        host: &RegistryHost,
        mut req: Request,
        scopes: &[String],
    ) -> Result<Response> {
        let session = &self.session;
        let mut retries = 0u32;
        let mut authorized_before = false;
        for _ in 0..MAX_ROUND_TRIPS {
            let auth_host = authority(&req.url);
            let mut builder = host.client.request(req.method.clone(), req.url.clone());
            for (name, value) in session.headers.iter().chain(&host.headers) {
                builder = builder.header(name, value);
            }
            builder = builder.headers(req.headers.clone());
            let auth = session
                .authorizer
                .authorize(&host.client, &auth_host, scopes)
                .await
                .map_err(|e| e.context(format!("failed to authorize {}", req.describe())))?;
            let sent_auth = auth.is_some();
            if let Some(value) = auth {
                builder = builder.header(AUTHORIZATION, value);
            }
            let replayable = !matches!(req.body, Body::Once(_));
            builder = match &mut req.body {
                Body::Empty => builder,
                Body::Bytes(b) => builder.body(b.clone()),
                Body::Once(b) => match b.take() {
                    Some(b) => builder.body(b),
                    None => {
                        return Err(Error::internal(format!(
                            "{}: body already sent",
                            req.describe()
                        )));
                    }
                },
            };
            let resp = match builder.send().await {
                Ok(resp) => resp,
                Err(e) => {
                    let transient =
                        e.is_timeout() || (e.is_request() && !e.is_connect()) || is_reset(&e);
                    if transient && replayable && retries + 1 < session.retry.attempts {
                        retries += 1;
                        tracing::debug!(error = %e, url = %req.url, retries, "retrying request");
                        tokio::time::sleep(session.retry.delay(retries)).await;
                        continue;
                    }
                    let ep = &host.endpoint;
                    let target_host = if auth_host.is_empty() {
                        ep.host.clone()
                    } else {
                        auth_host
                    };
                    return Err(transport_error(
                        &e,
                        &req.describe(),
                        req.url.scheme(),
                        &target_host,
                    ));
                }
            };
            let status = resp.status();
            match status {
                StatusCode::UNAUTHORIZED if replayable => {
                    // Authorization refused once is renewed (a token may have
                    // expired early); refused twice, it is final.
                    if sent_auth && authorized_before {
                        let err = session.authorizer.refused(&auth_host, resp.headers());
                        return Err(err.context(req.describe()));
                    }
                    authorized_before |= sent_auth;
                    session
                        .authorizer
                        .add_challenge(&auth_host, resp.headers(), sent_auth)
                        .await
                        .map_err(|e| e.context(req.describe()))?;
                }
                StatusCode::METHOD_NOT_ALLOWED
                    if req.method == Method::HEAD && req.url.path().contains("/manifests/") =>
                {
                    req.method = Method::GET;
                }
                StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
                    if replayable && retries + 1 < session.retry.attempts =>
                {
                    retries += 1;
                    let delay = retry_after(resp.headers()).map_or_else(
                        || session.retry.delay(retries),
                        |d| d.min(session.retry.max_delay),
                    );
                    tracing::debug!(%status, url = %req.url, retries, "retrying request");
                    tokio::time::sleep(delay).await;
                }
                _ => return Ok(resp),
            }
        }
        Err(Error::unavailable(format!(
            "{}: gave up after {MAX_ROUND_TRIPS} round trips",
            req.describe()
        )))
    }
}

/// Whether `err` is a connection reset or abort (worth another try).
fn is_reset(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            )
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// A `Retry-After` given in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(200));
        assert_eq!(p.delay(2), Duration::from_millis(400));
        assert_eq!(p.delay(3), Duration::from_millis(800));
        assert_eq!(p.delay(40), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    }

    #[test]
    fn urls_and_mirror_namespace() {
        let client = crate::hosts::tls::build_client(&Default::default(), "t").unwrap();
        let host = |scheme: &str, h: &str, path: &str| RegistryHost {
            endpoint: Endpoint {
                scheme: scheme.into(),
                host: h.into(),
                path: path.into(),
            },
            capabilities: Capabilities::ALL,
            headers: vec![],
            client: client.clone(),
        };
        let base = Base {
            reference: Reference::parse("r.io:5000/a/b:t").unwrap(),
            hosts: Arc::from(vec![]),
            session: Arc::new(Session {
                authorizer: Authorizer::default(),
                headers: vec![],
                retry: RetryPolicy::default(),
            }),
        };
        let url = base
            .url(&host("http", "r.io:5000", "/v2"), &["manifests", "t"])
            .unwrap();
        assert_eq!(url.as_str(), "http://r.io:5000/v2/a/b/manifests/t");
        let url = base
            .url(&host("https", "m.io", "/proxy"), &["blobs", "uploads", ""])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://m.io/proxy/a/b/blobs/uploads/?ns=r.io%3A5000"
        );
        let url = base
            .url(&host("https", "m.io", ""), &["tags", "list"])
            .unwrap();
        assert_eq!(url.as_str(), "https://m.io/a/b/tags/list?ns=r.io%3A5000");
        assert_eq!(base.scope(true), "repository:a/b:pull,push");
        assert_eq!(authority(&url), "m.io");
    }
}
