//! The Bearer token flow against a scripted registry and token endpoint:
//! anonymous tokens, OAuth2 password grants, the GET fallback with Basic
//! credentials, per-scope caching, expiry and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, OnceLock};

use common::http::{Req, Resp, TestServer, serve};
use common::image::Blob;
use crated_core::ErrorKind;
use crated_remotes::auth::{Credential, Credentials};
use crated_remotes::media_types::{OCI_LAYER_GZIP, OCI_MANIFEST};
use crated_remotes::{Resolver, ResolverOptions};

/// How the scripted token endpoint behaves.
#[derive(Clone, Copy, PartialEq)]
enum TokenMode {
    /// GET without credentials gives a token.
    Anonymous,
    /// POST with the password grant gives an access token.
    OAuth,
    /// POST is not supported (404); GET with Basic credentials works.
    GetWithBasic,
    /// Every token request is refused.
    Refuse,
}

struct Script {
    mode: TokenMode,
    expires_in: u64,
    /// The registry refuses even valid tokens (insufficient scope).
    insufficient: bool,
    manifest: Blob,
    blob: Blob,
    realm: OnceLock<String>,
}

const TOKEN: &str = "tok-123";

fn handle(s: &Script, req: &Req) -> Resp {
    if req.path() == "/token" {
        return token(s, req);
    }
    let challenge = format!(
        r#"Bearer realm="{}",service="test-registry",scope="repository:test/app:pull"{}"#,
        s.realm.get().unwrap(),
        if s.insufficient {
            r#",error="insufficient_scope""#
        } else {
            ""
        }
    );
    if s.insufficient || req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Resp::new(401)
            .header("WWW-Authenticate", &challenge)
            .body(r#"{"errors":[]}"#);
    }
    let serve_blob = |b: &Blob| {
        Resp::new(200)
            .header("Content-Type", &b.desc.media_type)
            .header("Docker-Content-Digest", &b.desc.digest)
            .body(b.data.to_vec())
    };
    match req.path() {
        "/v2/test/app/manifests/latest" => serve_blob(&s.manifest),
        p if p == format!("/v2/test/app/blobs/{}", s.blob.desc.digest) => serve_blob(&s.blob),
        _ => Resp::new(404),
    }
}

fn token(s: &Script, req: &Req) -> Resp {
    let ok = |field: &str| {
        Resp::new(200).body(format!(
            r#"{{"{field}": "{TOKEN}", "expires_in": {}}}"#,
            s.expires_in
        ))
    };
    let form = String::from_utf8_lossy(&req.body).to_string();
    match (s.mode, req.method.as_str()) {
        (TokenMode::Refuse, _) => Resp::new(401).body("bad credentials"),
        (TokenMode::Anonymous, "GET") if req.header("authorization").is_none() => ok("token"),
        (TokenMode::OAuth, "POST")
            if form.contains("grant_type=password") && form.contains("password=pw") =>
        {
            ok("access_token")
        }
        // "bob:pw"
        (TokenMode::GetWithBasic, "GET")
            if req.header("authorization") == Some("Basic Ym9iOnB3") =>
        {
            ok("token")
        }
        (TokenMode::GetWithBasic, "POST") => Resp::new(404),
        _ => Resp::new(400).body("unexpected token request"),
    }
}

async fn start(mode: TokenMode, expires_in: u64, insufficient: bool) -> (TestServer, Arc<Script>) {
    let script = Arc::new(Script {
        mode,
        expires_in,
        insufficient,
        manifest: Blob::new(OCI_MANIFEST, br#"{"schemaVersion":2}"#.to_vec()),
        blob: Blob::new(OCI_LAYER_GZIP, b"layer bytes".to_vec()),
        realm: OnceLock::new(),
    });
    let s = script.clone();
    let server = serve(move |req| handle(&s, req)).await;
    script
        .realm
        .set(format!("http://{}/token", server.host()))
        .unwrap();
    (server, script)
}

fn resolver(creds: Credentials) -> Resolver {
    Resolver::new(ResolverOptions::default().with_credentials(creds)).unwrap()
}

fn token_requests(server: &TestServer) -> Vec<Req> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/token")
        .collect()
}

#[tokio::test]
async fn anonymous_tokens_are_cached_per_scope() {
    let (server, script) = start(TokenMode::Anonymous, 300, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let r = resolver(Credentials::none());
    let (_, desc) = r.resolve(&reference).await.unwrap();
    assert_eq!(desc, script.manifest.desc);
    let fetcher = r.fetcher(&reference).unwrap();
    assert_eq!(
        fetcher.fetch_bytes(&script.blob.desc, 1024).await.unwrap(),
        script.blob.data
    );
    r.resolve(&reference).await.unwrap();

    let tokens = token_requests(&server);
    assert_eq!(tokens.len(), 1, "one token for one scope: {tokens:?}");
    let query = tokens[0].query();
    assert!(
        query.contains(&("service".into(), "test-registry".into())),
        "{query:?}"
    );
    assert!(
        query.contains(&("scope".into(), "repository%3Atest%2Fapp%3Apull".into())),
        "{query:?}"
    );
    assert!(tokens[0].header("authorization").is_none());

    // A push needs another scope, hence another token.
    let pusher = r.pusher(&reference).unwrap();
    let _ = pusher.exists(&script.blob.desc).await;
    let tokens = token_requests(&server);
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens[1]
            .target
            .contains("repository%3Atest%2Fapp%3Apull%2Cpush"),
        "{}",
        tokens[1].target
    );
}

#[tokio::test]
async fn expired_tokens_are_renewed() {
    let (server, _script) = start(TokenMode::Anonymous, 1, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let r = resolver(Credentials::none());
    r.resolve(&reference).await.unwrap();
    r.resolve(&reference).await.unwrap();
    assert_eq!(token_requests(&server).len(), 2);
}

#[tokio::test]
async fn oauth_password_grant() {
    let (server, script) = start(TokenMode::OAuth, 300, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let r = resolver(Credentials::explicit(Credential::new("bob", "pw")));
    assert_eq!(r.resolve(&reference).await.unwrap().1, script.manifest.desc);
    let tokens = token_requests(&server);
    assert_eq!(tokens.len(), 1);
    let form = String::from_utf8_lossy(&tokens[0].body).to_string();
    for field in [
        "grant_type=password",
        "username=bob",
        "client_id=containerd-client",
        "service=test-registry",
        "scope=repository%3Atest%2Fapp%3Apull",
    ] {
        assert!(form.contains(field), "{field} in {form}");
    }
}

/// Answers every host with bob's password, recording the hosts asked.
struct AskedSource(std::sync::Mutex<Vec<String>>);

impl crated_remotes::auth::CredentialSource for AskedSource {
    fn credential<'a>(
        &'a self,
        host: &'a str,
    ) -> futures::future::BoxFuture<'a, Option<Credential>> {
        self.0.lock().unwrap().push(host.to_string());
        Box::pin(async { Some(Credential::new("bob", "pw")) })
    }
}

/// Credentials asked of a source (a transfer client's auth stream) only
/// when the registry challenges, then used for the token's password grant.
#[tokio::test]
async fn oauth_password_grant_with_credentials_asked_on_challenge() {
    let (server, script) = start(TokenMode::OAuth, 300, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let source = Arc::new(AskedSource(Default::default()));
    let r = resolver(Credentials::from_source(source.clone()));
    assert_eq!(r.resolve(&reference).await.unwrap().1, script.manifest.desc);
    assert_eq!(*source.0.lock().unwrap(), vec![server.host()]);
    let tokens = token_requests(&server);
    assert_eq!(tokens.len(), 1);
    let form = String::from_utf8_lossy(&tokens[0].body).to_string();
    assert!(
        form.contains("grant_type=password") && form.contains("username=bob"),
        "{form}"
    );
}

#[tokio::test]
async fn get_with_basic_when_oauth_is_missing() {
    let (server, script) = start(TokenMode::GetWithBasic, 300, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let r = resolver(Credentials::explicit(Credential::new("bob", "pw")));
    assert_eq!(r.resolve(&reference).await.unwrap().1, script.manifest.desc);
    let methods: Vec<String> = token_requests(&server)
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, vec!["POST", "GET"]);
}

#[tokio::test]
async fn refused_tokens_and_scopes() {
    let (server, _script) = start(TokenMode::Refuse, 300, false).await;
    let reference = format!("{}/test/app:latest", server.host());
    let err = resolver(Credentials::explicit(Credential::new("bob", "bad")))
        .resolve(&reference)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.message().contains("check the credentials"), "{err}");

    let (server, _script) = start(TokenMode::Anonymous, 300, true).await;
    let reference = format!("{}/test/app:latest", server.host());
    let err = resolver(Credentials::none())
        .resolve(&reference)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.message().contains("insufficient_scope"), "{err}");
    assert!(err.message().contains("pull access denied"), "{err}");
}
