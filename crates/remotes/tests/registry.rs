//! Push, resolve and fetch against a real `docker-registry` over plain HTTP
//! on 127.0.0.1, and mirrors configured with hosts.toml.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::image::{self, Blob};
use common::{Registry, RegistryOptions, free_port, write_hosts_toml};
use crated_core::ErrorKind;
use crated_core::image::Descriptor;
use crated_remotes::media_types::{OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use crated_remotes::{
    DISTRIBUTION_SOURCE_LABEL, PushOutcome, Resolver, ResolverOptions, VerifyingReader,
    error_from_io,
};
use tokio::io::AsyncReadExt;

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resolve_fetch_round_trip() {
    let registry = Registry::start_with(RegistryOptions::default());
    // Loopback registries are plain HTTP by default, as in containerd 1.6.
    let resolver = Resolver::new(ResolverOptions::default()).unwrap();
    let reference = format!("{}/crated/test:v1", registry.host());
    let img = image::build("round-trip");

    let pusher = resolver.pusher(&reference).unwrap();
    let outcomes = image::push(&pusher, &img).await;
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Pushed),
        "{outcomes:?}"
    );

    // Resolve by tag: the index, with its digest and size.
    let (name, desc) = resolver.resolve(&reference).await.unwrap();
    assert_eq!(name, reference);
    assert_eq!(desc.media_type, OCI_INDEX);
    assert_eq!(desc.digest, img.index.desc.digest);
    assert_eq!(desc.size, img.index.desc.size);

    // Resolve by digest, and a child manifest by digest.
    let pinned = format!(
        "{}/crated/test@{}",
        registry.host(),
        img.manifests[1].desc.digest
    );
    let (_, child) = resolver.resolve(&pinned).await.unwrap();
    assert_eq!(child.media_type, OCI_MANIFEST);
    assert_eq!(child.size, img.manifests[1].desc.size);

    // Fetch the index and every blob with verification.
    let fetcher = resolver.fetcher(&reference).unwrap();
    let index = fetcher.fetch_bytes(&desc, 1 << 20).await.unwrap();
    assert_eq!(index, img.index.data);
    let mut tasks = Vec::new();
    for blob in img.blobs.iter().chain(&img.manifests).cloned() {
        // Clones share one connection pool: fetch in parallel.
        let fetcher = fetcher.clone();
        tasks.push(tokio::spawn(async move {
            let reader = fetcher.fetch(&blob.desc).await.unwrap();
            let got = read_all(VerifyingReader::new(&blob.desc, reader).unwrap())
                .await
                .unwrap();
            assert_eq!(got, blob.data);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Ranged resume: from an offset, the rest of the blob.
    let base = &img.blobs[0];
    let offset = base.data.len() as u64 / 3;
    let reader = fetcher.fetch_at(&base.desc, offset).await.unwrap();
    assert_eq!(reader.offset(), offset);
    let rest = read_all(reader).await.unwrap();
    assert_eq!(rest, &base.data[offset as usize..]);
    let at_end = fetcher
        .fetch_at(&base.desc, base.data.len() as u64)
        .await
        .unwrap();
    assert!(read_all(at_end).await.unwrap().is_empty());
    let past = fetcher
        .fetch_at(&base.desc, base.data.len() as u64 + 1)
        .await
        .err()
        .unwrap();
    assert_eq!(past.kind(), ErrorKind::OutOfRange);

    // Pushing again finds everything in place.
    let again = image::push(&pusher, &img).await;
    assert!(
        again.iter().all(|o| *o == PushOutcome::AlreadyExists),
        "{again:?}"
    );
    assert!(pusher.exists(&img.blobs[1].desc).await.unwrap());
}

#[tokio::test]
async fn errors_are_containerd_kinds() {
    let registry = Registry::start_with(RegistryOptions::default());
    let resolver = Resolver::new(ResolverOptions::default()).unwrap();
    let img = image::build("errors");
    let reference = format!("{}/crated/errors:v1", registry.host());
    let pusher = resolver.pusher(&reference).unwrap();

    // An unknown tag: "<ref>: not found".
    let missing = format!("{}/crated/errors:nope", registry.host());
    let err = resolver.resolve(&missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), format!("{missing}: not found"));

    // An unknown blob.
    let fetcher = resolver.fetcher(&reference).unwrap();
    let err = fetcher.fetch(&img.blobs[0].desc).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // A manifest whose blobs are missing is refused by the registry.
    let err = pusher
        .push_bytes(&img.manifests[0].desc, img.manifests[0].data.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.message().contains("blob unknown"), "{err}");

    // Content that does not match its descriptor is not pushed.
    let err = pusher
        .push_bytes(&img.blobs[0].desc, Bytes::from_static(b"other"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    // A digest mismatch on fetch: the reader fails at the end.
    pusher
        .push_bytes(&img.blobs[1].desc, img.blobs[1].data.clone())
        .await
        .unwrap();
    let reader = fetcher.fetch(&img.blobs[1].desc).await.unwrap();
    let mut wrong = img.blobs[1].desc.clone();
    wrong.digest = img.blobs[0].desc.digest.clone();
    wrong.size = -1;
    let err = error_from_io(
        read_all(VerifyingReader::new(&wrong, reader).unwrap())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.message().contains("digest mismatch"), "{err}");

    // HTTPS asked of a plain-HTTP registry: Unavailable, with the hint.
    let hosts = tempfile::tempdir().unwrap();
    write_hosts_toml(
        hosts.path(),
        &registry.host(),
        &format!("server = \"https://{}\"\n", registry.host()),
    );
    let tls_resolver =
        Resolver::new(ResolverOptions::default().with_hosts_dir(hosts.path())).unwrap();
    let err = tls_resolver.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("--plain-http"), "{err}");

    // Nothing listening: Unavailable, naming the endpoint.
    let dead = format!("127.0.0.1:{}/x:y", free_port());
    let err = resolver.resolve(&dead).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("is a registry listening"), "{err}");
}

#[tokio::test]
async fn chunked_upload_and_cross_repo_mount() {
    let registry = Registry::start_with(RegistryOptions::default());
    let resolver = Resolver::new(ResolverOptions::default()).unwrap();
    let big = Blob::new(OCI_LAYER_GZIP, crated_testkit::test_bytes(300_000, 42));

    // Chunked from bytes, and chunked from a reader with an odd chunk size.
    let one = resolver
        .pusher(&format!("{}/crated/one:v1", registry.host()))
        .unwrap()
        .with_chunk_size(64 * 1024);
    assert_eq!(
        one.push_bytes(&big.desc, big.data.clone()).await.unwrap(),
        PushOutcome::Pushed
    );
    let other = Blob::new(OCI_LAYER_GZIP, crated_testkit::test_bytes(100_001, 43));
    let reader = std::io::Cursor::new(other.data.to_vec());
    let two = resolver
        .pusher(&format!("{}/crated/two:v1", registry.host()))
        .unwrap()
        .with_chunk_size(30_000);
    assert_eq!(
        two.push_reader(&other.desc, reader).await.unwrap(),
        PushOutcome::Pushed
    );
    // Streamed monolithic upload.
    let third = Blob::new(OCI_LAYER_GZIP, crated_testkit::test_bytes(70_000, 44));
    let plain = resolver
        .pusher(&format!("{}/crated/two:v1", registry.host()))
        .unwrap();
    let reader = std::io::Cursor::new(third.data.to_vec());
    assert_eq!(
        plain.push_reader(&third.desc, reader).await.unwrap(),
        PushOutcome::Pushed
    );

    for (repo, blob) in [("one", &big), ("two", &other), ("two", &third)] {
        let f = resolver
            .fetcher(&format!("{}/crated/{repo}:v1", registry.host()))
            .unwrap();
        assert_eq!(f.fetch_bytes(&blob.desc, 1 << 20).await.unwrap(), blob.data);
    }

    // Mount into a third repository from the first, named explicitly or by
    // containerd's distribution-source label.
    let three = resolver
        .pusher(&format!("{}/crated/three:v1", registry.host()))
        .unwrap()
        .with_mount_source("crated/one");
    let outcome = three.push_bytes(&big.desc, big.data.clone()).await.unwrap();
    assert_eq!(
        outcome,
        PushOutcome::Mounted {
            from: "crated/one".into()
        }
    );
    let mut labelled = other.desc.clone();
    labelled.annotations.insert(
        format!("{DISTRIBUTION_SOURCE_LABEL}.{}", registry.host()),
        "crated/nowhere,crated/two".into(),
    );
    let four = resolver
        .pusher(&format!("{}/crated/four:v1", registry.host()))
        .unwrap();
    // Of candidates sharing as long a prefix, the last is tried.
    let outcome = four
        .push_bytes(&labelled, other.data.clone())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PushOutcome::Mounted {
            from: "crated/two".into()
        }
    );
    let f = resolver
        .fetcher(&format!("{}/crated/four:v1", registry.host()))
        .unwrap();
    assert_eq!(
        f.fetch_bytes(&other.desc, 1 << 20).await.unwrap(),
        other.data
    );
}

#[tokio::test]
async fn mirrors_from_hosts_toml() {
    let registry = Registry::start_with(RegistryOptions::default());
    let resolver = Resolver::new(ResolverOptions::default()).unwrap();
    let img = image::build("mirror");
    let pusher = resolver
        .pusher(&format!("{}/library/app:1", registry.host()))
        .unwrap();
    image::push(&pusher, &img).await;

    // "upstream.invalid:5000" is never reached: a pull/resolve mirror
    // answers first. A second configuration reaches the same registry with
    // override_path (the path is the API root itself).
    let hosts = tempfile::tempdir().unwrap();
    write_hosts_toml(
        hosts.path(),
        "upstream.invalid:5000",
        &format!(
            "server = \"https://upstream.invalid:5000\"\n\n\
             [host.\"http://{}\"]\ncapabilities = [\"pull\", \"resolve\"]\n",
            registry.host()
        ),
    );
    write_hosts_toml(
        hosts.path(),
        "_default",
        &format!(
            "[host.\"http://127.0.0.1:{}\"]\ncapabilities = [\"pull\"]\n\n\
             [host.\"http://{}/v2\"]\ncapabilities = [\"pull\", \"resolve\"]\noverride_path = true\n",
            free_port(),
            registry.host()
        ),
    );
    let mirrored = Resolver::new(ResolverOptions::default().with_hosts_dir(hosts.path())).unwrap();
    for reference in [
        "upstream.invalid:5000/library/app:1",
        "other.invalid/library/app:1",
    ] {
        let (_, desc) = mirrored.resolve(reference).await.unwrap();
        assert_eq!(desc.digest, img.index.desc.digest, "{reference}");
        let fetcher = mirrored.fetcher(reference).unwrap();
        for blob in img.blobs.iter().chain(&img.manifests) {
            assert_eq!(
                fetcher.fetch_bytes(&blob.desc, 1 << 20).await.unwrap(),
                blob.data
            );
        }
    }

    // Pushing goes to the upstream only (mirrors lack "push"); it is
    // unreachable, so the error says where it tried.
    let p = mirrored
        .pusher("upstream.invalid:5000/library/app:1")
        .unwrap();
    let err = p
        .push_bytes(&img.blobs[0].desc, img.blobs[0].data.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("upstream.invalid"), "{err}");

    // A descriptor of unknown size still fetches whole.
    let mut unsized_desc: Descriptor = img.blobs[0].desc.clone();
    unsized_desc.size = -1;
    let f = mirrored
        .fetcher("upstream.invalid:5000/library/app:1")
        .unwrap();
    assert_eq!(
        f.fetch_bytes(&unsized_desc, 1 << 20).await.unwrap(),
        img.blobs[0].data
    );
}
