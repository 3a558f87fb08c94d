//! The authorizer: learns each registry host's scheme from its 401
//! challenge, then authorizes requests — Basic from credentials, or Bearer
//! tokens fetched from the challenge's realm and cached per scope set until
//! they expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crated_core::{Error, ErrorKind, Result};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::challenge::{AuthScheme, Challenge, parse_www_authenticate};
use super::credentials::{Credential, Credentials};
use crate::error::{CREDENTIALS_HINT, read_limited, transport_error};

/// How long a token without `expires_in` is trusted (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token is renewed this long before it expires.
const EXPIRY_SLACK: Duration = Duration::from_secs(5);
/// The OAuth2 client id sent to token endpoints, as containerd sends it.
const CLIENT_ID: &str = "containerd-client";

/// How requests to one host are authorized.
enum Handler {
    /// A fixed `Authorization: Basic …` value.
    Basic(String),
    /// Tokens from a realm.
    Bearer(Arc<Bearer>),
}

/// A token endpoint and the tokens it issued, per scope set.
struct Bearer {
    realm: String,
    service: Option<String>,
    /// Scopes the challenge named, added to every token request.
    scopes: Vec<String>,
    credential: Option<Credential>,
    tokens: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Token>>>>>,
}

#[derive(Clone)]
struct Token {
    value: String,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// Authorizes requests per registry host (`host[:port]`).
#[derive(Default)]
pub(crate) struct Authorizer {
    credentials: Credentials,
    handlers: Mutex<HashMap<String, Handler>>,
}

impl Authorizer {
    pub(crate) fn new(credentials: Credentials) -> Authorizer {
        Authorizer {
            credentials,
            handlers: Mutex::new(HashMap::new()),
        }
    }

    /// The `Authorization` value for a request to `host` needing `scopes`,
    /// if the host has challenged before.
    pub(crate) async fn authorize(
        &self,
        client: &reqwest::Client,
        host: &str,
        scopes: &[String],
    ) -> Result<Option<String>> {
        let bearer = {
            let handlers = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
            match handlers.get(host) {
                None => return Ok(None),
                Some(Handler::Basic(value)) => return Ok(Some(value.clone())),
                Some(Handler::Bearer(b)) => b.clone(),
            }
        };
        bearer
            .token(client, scopes)
            .await
            .map(|t| Some(format!("Bearer {t}")))
    }

    /// Learns from a 401 response's headers how to authorize requests to
    /// `host`. An existing handler is kept unless `replace` (the refused
    /// request carried its authorization, so its tokens are dropped).
    pub(crate) async fn add_challenge(
        &self,
        host: &str,
        headers: &HeaderMap,
        replace: bool,
    ) -> Result<()> {
        let challenges = challenges(headers);
        let known = !replace
            && self
                .handlers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(host);
        let credential = if known || challenges.is_empty() {
            None
        } else {
            self.credentials.lookup(host).await
        };
        let mut handlers = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
        if !replace && handlers.contains_key(host) {
            return Ok(());
        }
        handlers.remove(host);
        for challenge in &challenges {
            match challenge.scheme {
                AuthScheme::Bearer => {
                    let bearer = Bearer::from_challenge(challenge, credential.clone())?;
                    handlers.insert(host.to_string(), Handler::Bearer(Arc::new(bearer)));
                    return Ok(());
                }
                AuthScheme::Basic => {
                    if let Some(c) = &credential
                        && !c.username.is_empty()
                        && !c.secret.is_empty()
                    {
                        let value = STANDARD.encode(format!("{}:{}", c.username, c.secret));
                        handlers.insert(host.to_string(), Handler::Basic(format!("Basic {value}")));
                        return Ok(());
                    }
                    return Err(Error::new(
                        ErrorKind::Unauthenticated,
                        format!("{host} requires authentication: {CREDENTIALS_HINT}"),
                    ));
                }
                AuthScheme::Digest => {}
            }
        }
        Err(Error::not_implemented(format!(
            "{host} asked for authentication with no supported scheme (Bearer or Basic)"
        )))
    }

    /// The error for a request to `host` refused again after authorizing;
    /// forgets the host's handler.
    pub(crate) fn refused(&self, host: &str, headers: &HeaderMap) -> Error {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(host);
        let server = challenges(headers)
            .iter()
            .find_map(|c| c.param("error").map(str::to_string))
            .map(|e| format!(": server message: {e}"))
            .unwrap_or_default();
        Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "authentication failed for {host}: it refused the credentials or token it was \
                 given{server}; {CREDENTIALS_HINT}"
            ),
        )
    }
}

/// The challenges in `headers`.
fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    let values = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    parse_www_authenticate(values)
}

impl Bearer {
    fn from_challenge(challenge: &Challenge, credential: Option<Credential>) -> Result<Bearer> {
        let realm = challenge.param("realm").ok_or_else(|| {
            Error::invalid_argument("no realm specified for token auth challenge")
        })?;
        reqwest::Url::parse(realm).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidArgument,
                format_args!("invalid token auth challenge realm {realm:?}"),
                e,
            )
        })?;
        Ok(Bearer {
            realm: realm.to_string(),
            service: challenge.param("service").map(str::to_string),
            scopes: challenge
                .param("scope")
                .map(|s| {
                    s.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            credential: credential.filter(|c| !c.secret.is_empty()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// A token for `scopes` (plus the challenge's), from the cache or the
    /// realm; concurrent callers for one scope set wait for one fetch.
    async fn token(&self, client: &reqwest::Client, scopes: &[String]) -> Result<String> {
        let mut all: Vec<String> = scopes.iter().chain(&self.scopes).cloned().collect();
        all.sort();
        all.dedup();
        let key = all.join(" ");
        let slot = {
            let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            tokens.entry(key).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(token) = slot.as_ref()
            && token.renew_at > Instant::now()
        {
            return Ok(token.value.clone());
        }
        let fetched = self.fetch(client, &all).await?;
        *slot = Some(fetched.clone());
        Ok(fetched.value)
    }

    async fn fetch(&self, client: &reqwest::Client, scopes: &[String]) -> Result<Token> {
        let Some(credential) = &self.credential else {
            return self
                .fetch_get(client, scopes, None)
                .await
                .map_err(|e| e.context("failed to fetch anonymous token"));
        };
        match self.fetch_oauth(client, scopes, credential).await {
            Ok(token) => Ok(token),
            // Registries without OAuth2 POST support answer one of these;
            // fall back to GET with Basic credentials, as containerd does.
            Err((Some(status), _))
                if matches!(status, 400 | 401 | 404)
                    || (status == 405 && !credential.username.is_empty()) =>
            {
                self.fetch_get(client, scopes, Some(credential))
                    .await
                    .map_err(|e| e.context("failed to fetch token"))
            }
            Err((_, e)) => Err(e.context("failed to fetch oauth token")),
        }
    }

    /// OAuth2 token request: `password` grant with a username, else
    /// `refresh_token` with the identity token. Errors carry the status.
    async fn fetch_oauth(
        &self,
        client: &reqwest::Client,
        scopes: &[String],
        credential: &Credential,
    ) -> std::result::Result<Token, (Option<u16>, Error)> {
        let mut form: Vec<(&str, &str)> = vec![("client_id", CLIENT_ID)];
        let scope = scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.push(("service", self.service.as_deref().unwrap_or_default()));
        if credential.username.is_empty() {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", &credential.secret));
        } else {
            form.push(("grant_type", "password"));
            form.push(("username", &credential.username));
            form.push(("password", &credential.secret));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = client
            .post(&self.realm)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body);
        self.finish(request, "POST").await
    }

    /// The registry token request: GET with `service` and `scope` query
    /// parameters, Basic credentials if any.
    async fn fetch_get(
        &self,
        client: &reqwest::Client,
        scopes: &[String],
        credential: Option<&Credential>,
    ) -> Result<Token> {
        let mut url = reqwest::Url::parse(&self.realm).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidArgument,
                format_args!("invalid realm {:?}", self.realm),
                e,
            )
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &self.service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut request = client.get(url);
        if let Some(c) = credential {
            request = request.basic_auth(&c.username, Some(&c.secret));
        }
        self.finish(request, "GET").await.map_err(|(_, e)| e)
    }

    async fn finish(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
    ) -> std::result::Result<Token, (Option<u16>, Error)> {
        let what = format!("{method} {}", self.realm);
        let realm_url = reqwest::Url::parse(&self.realm).ok();
        let host = realm_url
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let scheme = realm_url.as_ref().map_or("https", |u| u.scheme());
        let resp = request
            .send()
            .await
            .map_err(|e| (None, transport_error(&e, &what, scheme, &host)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_limited(resp).await;
            let kind = match status.as_u16() {
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::PermissionDenied,
                _ => crate::error::kind_of_status(status),
            };
            let mut message = format!(
                "{what}: unexpected status {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
            if matches!(
                kind,
                ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
            ) {
                message.push_str(&format!("; check the credentials ({CREDENTIALS_HINT})"));
            }
            return Err((Some(status.as_u16()), Error::new(kind, message)));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| (None, transport_error(&e, &what, scheme, &host)))?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            (
                None,
                Error::with_source(
                    ErrorKind::Unknown,
                    format_args!("{what}: unable to decode token response"),
                    e,
                ),
            )
        })?;
        let value = if parsed.access_token.is_empty() {
            parsed.token
        } else {
            parsed.access_token
        };
        if value.is_empty() {
            return Err((
                None,
                Error::unknown(format!(
                    "{what}: authorization server did not include a token in the response"
                )),
            ));
        }
        let lifetime = match parsed.expires_in {
            0 => DEFAULT_TOKEN_LIFETIME,
            secs => Duration::from_secs(secs),
        };
        Ok(Token {
            value,
            renew_at: Instant::now() + lifetime.saturating_sub(EXPIRY_SLACK),
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WWW_AUTHENTICATE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            encode("repository:a/b:pull push"),
            "repository%3Aa%2Fb%3Apull+push"
        );
    }

    /// Answers for one host, counting the questions.
    struct OneHost(std::sync::atomic::AtomicUsize);

    impl crate::auth::CredentialSource for OneHost {
        fn credential<'a>(
            &'a self,
            host: &'a str,
        ) -> futures::future::BoxFuture<'a, Option<Credential>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { (host == "r:5000").then(|| Credential::new("src", "pw")) })
        }
    }

    #[tokio::test]
    async fn a_source_is_asked_when_a_host_challenges() {
        let client = crate::hosts::tls::build_client(&Default::default(), "t").unwrap();
        let source = Arc::new(OneHost(Default::default()));
        let a = Authorizer::new(Credentials::from_source(source.clone()));
        assert_eq!(a.authorize(&client, "r:5000", &[]).await.unwrap(), None);
        assert_eq!(source.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        a.add_challenge("r:5000", &headers(r#"Basic realm="x""#), false)
            .await
            .unwrap();
        let value = a.authorize(&client, "r:5000", &[]).await.unwrap();
        assert_eq!(value.as_deref(), Some("Basic c3JjOnB3"));
        // Known already: not asked again.
        a.add_challenge("r:5000", &headers(r#"Basic realm="x""#), false)
            .await
            .unwrap();
        assert_eq!(source.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        let err = a
            .add_challenge("other:1", &headers(r#"Basic realm="x""#), false)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    }

    #[tokio::test]
    async fn basic_needs_credentials() {
        let client = crate::hosts::tls::build_client(&Default::default(), "t").unwrap();
        let anonymous = Authorizer::new(Credentials::none());
        let err = anonymous
            .add_challenge("r:5000", &headers(r#"Basic realm="x""#), false)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert!(err.message().contains("--user"));
        let with = Authorizer::new(Credentials::explicit(Credential::new("u", "p")));
        with.add_challenge("r:5000", &headers(r#"Basic realm="x""#), false)
            .await
            .unwrap();
        let value = with.authorize(&client, "r:5000", &[]).await.unwrap();
        assert_eq!(value.as_deref(), Some("Basic dTpw"));
        assert_eq!(with.authorize(&client, "other:1", &[]).await.unwrap(), None);
        let err = with.refused("r:5000", &headers(r#"Basic realm="x""#));
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert_eq!(with.authorize(&client, "r:5000", &[]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn unsupported_and_bad_challenges() {
        let a = Authorizer::new(Credentials::none());
        let err = a
            .add_challenge("h", &headers(r#"Digest realm="x""#), false)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotImplemented);
        let err = a
            .add_challenge("h", &headers(r#"Bearer service="x""#), false)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        a.add_challenge(
            "h",
            &headers(r#"Bearer realm="http://t/token",service="s""#),
            false,
        )
        .await
        .unwrap();
        let err = a.refused(
            "h",
            &headers(r#"Bearer realm="http://t/token",error="insufficient_scope""#),
        );
        assert!(err.message().contains("insufficient_scope"), "{err}");
    }
}
