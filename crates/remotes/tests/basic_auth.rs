//! A real `docker-registry` behind htpasswd Basic auth: anonymous, wrong and
//! right credentials, given explicitly or through a docker config.json.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{Registry, RegistryOptions, htpasswd_line, image};
use crated_core::ErrorKind;
use crated_remotes::auth::{Credential, Credentials, DockerConfig};
use crated_remotes::{PushOutcome, Resolver, ResolverOptions};

fn resolver(credentials: Credentials) -> Resolver {
    Resolver::new(ResolverOptions::default().with_credentials(credentials)).unwrap()
}

#[tokio::test]
async fn htpasswd_registry() {
    let secrets = tempfile::tempdir().unwrap();
    let htpasswd = secrets.path().join("htpasswd");
    std::fs::write(&htpasswd, htpasswd_line("alice", "s3cret")).unwrap();
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: Some(htpasswd),
        ..RegistryOptions::default()
    });
    let reference = format!("{}/private/app:1", registry.host());
    let img = image::build("basic");

    // Anonymous: refused, with a hint to pass credentials.
    let anonymous = resolver(Credentials::none());
    let err = anonymous.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.message().contains("--user"), "{err}");
    let err = anonymous
        .pusher(&reference)
        .unwrap()
        .push_bytes(&img.blobs[0].desc, img.blobs[0].data.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");

    // Wrong password: refused.
    let wrong = resolver(Credentials::explicit(Credential::from_user_flag(
        "alice:nope",
    )));
    let err = wrong.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");

    // Right password (ctr's --user alice:s3cret): push, resolve, fetch.
    let alice = resolver(Credentials::explicit(Credential::from_user_flag(
        "alice:s3cret",
    )));
    let outcomes = image::push(&alice.pusher(&reference).unwrap(), &img).await;
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Pushed),
        "{outcomes:?}"
    );
    let (_, desc) = alice.resolve(&reference).await.unwrap();
    assert_eq!(desc.digest, img.index.desc.digest);

    // The same login from a docker config.json, keyed by host.
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let config_dir = tempfile::tempdir().unwrap();
    let path = config_dir.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}, "elsewhere:1": {{"auth": "eDp5"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let from_config = resolver(Credentials::from_docker_config(
        DockerConfig::load(&path).unwrap(),
    ));
    let fetcher = from_config.fetcher(&reference).unwrap();
    let mut tasks = Vec::new();
    for blob in img.blobs.iter().chain(&img.manifests).cloned() {
        let fetcher = fetcher.clone();
        tasks.push(tokio::spawn(async move {
            assert_eq!(
                fetcher.fetch_bytes(&blob.desc, 1 << 20).await.unwrap(),
                blob.data
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let again = image::push(&from_config.pusher(&reference).unwrap(), &img).await;
    assert!(
        again.iter().all(|o| *o == PushOutcome::AlreadyExists),
        "{again:?}"
    );
}
