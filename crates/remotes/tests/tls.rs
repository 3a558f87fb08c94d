//! A real `docker-registry` serving only HTTPS with a test CA and requiring
//! client certificates, configured through hosts.toml.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Registry, RegistryOptions, RegistryTls, image, write_hosts_toml};
use crated_core::ErrorKind;
use crated_remotes::hosts::TlsConfig;
use crated_remotes::{PushOutcome, Resolver, ResolverOptions};
use crated_testkit::pki::{self, Pki};

fn https_registry(pki: &Pki) -> Registry {
    Registry::start_with(RegistryOptions {
        tls: Some(RegistryTls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: Some(pki.ca.clone()),
        }),
        ..RegistryOptions::default()
    })
}

/// A resolver reading `hosts_toml` (with `{host}` replaced) as the host's
/// configuration, the CA and client files copied beside it.
fn resolver_with(
    registry: &Registry,
    pki: &Pki,
    hosts_toml: &str,
) -> (Resolver, tempfile::TempDir) {
    let hosts = tempfile::tempdir().unwrap();
    let dir = write_hosts_toml(
        hosts.path(),
        &registry.host(),
        &hosts_toml.replace("{host}", &registry.host()),
    );
    for (from, to) in [
        (&pki.ca, "ca.pem"),
        (&pki.client_cert, "client.pem"),
        (&pki.client_key, "client.key"),
    ] {
        std::fs::copy(from, dir.join(to)).unwrap();
    }
    let resolver = Resolver::new(ResolverOptions::default().with_hosts_dir(hosts.path())).unwrap();
    (resolver, hosts)
}

#[tokio::test]
async fn https_with_test_ca_and_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let pki = pki::generate(certs.path());
    let registry = https_registry(&pki);
    let reference = format!("{}/secure/app:1", registry.host());
    let img = image::build("tls");

    // CA relative to the host directory, client pair as [cert, key].
    let (resolver, _hosts) = resolver_with(
        &registry,
        &pki,
        "server = \"https://{host}\"\nca = \"ca.pem\"\nclient = [[\"client.pem\", \"client.key\"]]\n",
    );
    let outcomes = image::push(&resolver.pusher(&reference).unwrap(), &img).await;
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Pushed),
        "{outcomes:?}"
    );
    let (_, desc) = resolver.resolve(&reference).await.unwrap();
    assert_eq!(desc.digest, img.index.desc.digest);
    let fetcher = resolver.fetcher(&reference).unwrap();
    for blob in img.blobs.iter().chain(&img.manifests) {
        assert_eq!(
            fetcher.fetch_bytes(&blob.desc, 1 << 20).await.unwrap(),
            blob.data
        );
    }

    // skip_verify instead of the CA; the client certificate in a list.
    let (skip, _h) = resolver_with(
        &registry,
        &pki,
        "server = \"https://{host}\"\nskip_verify = true\nclient = [[\"client.pem\", \"client.key\"]]\n",
    );
    assert_eq!(
        skip.resolve(&reference).await.unwrap().1.digest,
        img.index.desc.digest
    );

    // The CA from the default TLS options (ctr's --tlscacert) also works.
    let hosts = tempfile::tempdir().unwrap();
    write_hosts_toml(
        hosts.path(),
        &registry.host(),
        &format!("server = \"https://{}\"\n", registry.host()),
    );
    let mut options = ResolverOptions::default().with_hosts_dir(hosts.path());
    options.hosts.tls = TlsConfig {
        ca_files: vec![pki.ca.clone()],
        client_pairs: vec![crated_remotes::hosts::ClientPair {
            cert: pki.client_cert.clone(),
            key: Some(pki.client_key.clone()),
        }],
        skip_verify: None,
    };
    let defaults = Resolver::new(options).unwrap();
    assert_eq!(
        defaults.resolve(&reference).await.unwrap().1.digest,
        img.index.desc.digest
    );
}

#[tokio::test]
async fn https_misconfigurations_say_what_to_do() {
    let certs = tempfile::tempdir().unwrap();
    let pki = pki::generate(certs.path());
    let registry = https_registry(&pki);
    let reference = format!("{}/secure/app:1", registry.host());

    // No CA: the certificate is not trusted.
    let (untrusted, _h1) = resolver_with(
        &registry,
        &pki,
        "server = \"https://{host}\"\nclient = [[\"client.pem\", \"client.key\"]]\n",
    );
    let err = untrusted.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.message().contains("not trusted") && err.message().contains("ca ="),
        "{err}"
    );

    // No client certificate: the handshake is refused.
    let (no_client, _h2) = resolver_with(
        &registry,
        &pki,
        "server = \"https://{host}\"\nca = \"ca.pem\"\n",
    );
    let err = no_client.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("client certificate"), "{err}");

    // Plain HTTP (the loopback default) against HTTPS.
    let plain = Resolver::new(ResolverOptions::default()).unwrap();
    let err = plain.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("drop --plain-http"), "{err}");

    // A CA file that is missing is reported with its path.
    let (missing, hosts) = resolver_with(
        &registry,
        &pki,
        "server = \"https://{host}\"\nca = \"gone.pem\"\n",
    );
    let err = missing.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("gone.pem"), "{err}");
    drop(hosts);
}
