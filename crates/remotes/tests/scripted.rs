//! Behaviour that a well-behaved registry never shows, against a scripted
//! server: broken connections (resume with Range), servers that ignore
//! Range, transient 503s, HEAD refused, unknown media types, upload
//! Locations and wrong digests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::http::{Req, Resp, TestServer, serve};
use common::image::Blob;
use crated_core::ErrorKind;
use crated_remotes::media_types::{OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use crated_remotes::{
    PushOutcome, Resolver, ResolverOptions, RetryPolicy, VerifyingReader, error_from_io,
};
use crated_testkit::test_bytes as noise;
use tokio::io::AsyncReadExt;

fn resolver() -> Resolver {
    Resolver::new(ResolverOptions {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        ..ResolverOptions::default()
    })
    .unwrap()
}

fn blob() -> Blob {
    Blob::new(OCI_LAYER_GZIP, noise(100_000, 9))
}

/// The blob from `Range: bytes=N-` (or whole), honouring the range unless
/// `ignore_range`, cutting each response after `cut` bytes.
fn serve_range(b: &Blob, req: &Req, cut: Option<usize>, ignore_range: bool) -> Resp {
    let start: usize = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let len = b.data.len();
    let mut resp = if start > 0 && !ignore_range {
        Resp::new(206)
            .header("Content-Range", &format!("bytes {start}-{}/{len}", len - 1))
            .body(b.data[start..].to_vec())
    } else {
        Resp::new(200).body(b.data.to_vec())
    };
    if let Some(n) = cut {
        resp = resp.cut_after(n);
    }
    resp
}

async fn read_verified(server: &TestServer, b: &Blob) -> Result<Vec<u8>, crated_core::Error> {
    let fetcher = resolver()
        .fetcher(&format!("{}/r/x:1", server.host()))
        .unwrap();
    let reader = fetcher.fetch(&b.desc).await?;
    let mut out = Vec::new();
    VerifyingReader::new(&b.desc, reader)
        .unwrap()
        .read_to_end(&mut out)
        .await
        .map_err(error_from_io)?;
    Ok(out)
}

fn ranges(server: &TestServer) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.header("range").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn broken_bodies_resume_with_range_requests() {
    let b = blob();
    let served = b.clone();
    let server = serve(move |req| serve_range(&served, req, Some(30_000), false)).await;
    assert_eq!(read_verified(&server, &b).await.unwrap(), b.data);
    assert_eq!(
        ranges(&server),
        vec![
            None,
            Some("bytes=30000-".into()),
            Some("bytes=60000-".into()),
            Some("bytes=90000-".into())
        ]
    );
}

#[tokio::test]
async fn servers_ignoring_range_are_skipped_forward() {
    let b = blob();
    let served = b.clone();
    let server = serve(move |req| serve_range(&served, req, None, true)).await;
    let fetcher = resolver()
        .fetcher(&format!("{}/r/x:1", server.host()))
        .unwrap();
    let mut out = Vec::new();
    fetcher
        .fetch_at(&b.desc, 12_345)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert_eq!(out, &b.data[12_345..]);
}

#[tokio::test]
async fn bodies_that_never_arrive_fail() {
    let b = blob();
    let served = b.clone();
    let server = serve(move |req| serve_range(&served, req, Some(0), false)).await;
    let err = read_verified(&server, &b).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DataLoss | ErrorKind::Unavailable),
        "{err}"
    );
    assert_eq!(server.requests().len(), 4, "one open and three resumes");

    // A range answer that starts elsewhere is refused.
    let served = b.clone();
    let server = serve(move |_| {
        Resp::new(206)
            .header("Content-Range", "bytes 0-99999/100000")
            .body(served.data.to_vec())
    })
    .await;
    let fetcher = resolver()
        .fetcher(&format!("{}/r/x:1", server.host()))
        .unwrap();
    let err = fetcher.fetch_at(&b.desc, 10).await.err().unwrap();
    assert!(err.message().contains("unhandled content range"), "{err}");
}

#[tokio::test]
async fn transient_statuses_are_retried() {
    let manifest = Blob::new(OCI_INDEX, br#"{"schemaVersion":2,"manifests":[]}"#.to_vec());
    let calls = Arc::new(AtomicUsize::new(0));
    let (m, c) = (manifest.clone(), calls.clone());
    let server = serve(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            return Resp::new(503).header("Retry-After", "0");
        }
        Resp::new(200)
            .header("Content-Type", OCI_INDEX)
            .header("Docker-Content-Digest", &m.desc.digest)
            .body(m.data.to_vec())
    })
    .await;
    let (_, desc) = resolver()
        .resolve(&format!("{}/r/x:1", server.host()))
        .await
        .unwrap();
    assert_eq!(desc, manifest.desc);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let server = serve(|_| Resp::new(503)).await;
    let err = resolver()
        .resolve(&format!("{}/r/x:1", server.host()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn head_refused_falls_back_to_get_and_hashes() {
    let manifest = Blob::new(OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#.to_vec());
    let m = manifest.clone();
    let server = serve(move |req| {
        if req.method == "HEAD" {
            return Resp::new(405);
        }
        // No Docker-Content-Digest: the resolver hashes the body.
        Resp::new(200)
            .header("Content-Type", &format!("{OCI_MANIFEST}; charset=utf-8"))
            .body(m.data.to_vec())
    })
    .await;
    let (_, desc) = resolver()
        .resolve(&format!("{}/r/x:1", server.host()))
        .await
        .unwrap();
    assert_eq!(desc, manifest.desc);
    let methods: Vec<String> = server.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, vec!["HEAD", "GET", "GET"]);
}

#[tokio::test]
async fn unknown_manifest_types_are_not_implemented() {
    for content_type in ["application/x-unknown", "text/plain"] {
        let server = serve(move |_| {
            Resp::new(200)
                .header("Content-Type", content_type)
                .header(
                    "Docker-Content-Digest",
                    &format!("sha256:{}", "a".repeat(64)),
                )
                .body("{}")
        })
        .await;
        let err = resolver()
            .resolve(&format!("{}/r/x:1", server.host()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    }
}

#[tokio::test]
async fn uploads_follow_locations_and_check_digests() {
    let b = Blob::new(OCI_LAYER_GZIP, noise(5_000, 3));
    let manifest = Blob::new(OCI_MANIFEST, br#"{"schemaVersion":2}"#.to_vec());
    let digest = b.desc.digest.clone();
    let server = serve(move |req| match (req.method.as_str(), req.path()) {
        ("HEAD", _) => Resp::new(404),
        ("POST", "/v2/r/x/blobs/uploads/") => {
            Resp::new(202).header("Location", "/upload/1?_state=abc")
        }
        ("PUT", "/upload/1") => Resp::new(201).header("Docker-Content-Digest", &digest),
        // The registry claims another digest for the manifest.
        ("PUT", _) => Resp::new(201).header(
            "Docker-Content-Digest",
            &format!("sha256:{}", "0".repeat(64)),
        ),
        _ => Resp::new(500),
    })
    .await;
    let pusher = resolver()
        .pusher(&format!("{}/r/x:1", server.host()))
        .unwrap();
    assert_eq!(
        pusher.push_bytes(&b.desc, b.data.clone()).await.unwrap(),
        PushOutcome::Pushed
    );
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(
        put.target
            .starts_with("/upload/1?_state=abc&digest=sha256%3A"),
        "{}",
        put.target
    );
    assert_eq!(put.body, b.data);
    let err = pusher
        .push_root(&manifest.desc, manifest.data.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    let put = server
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path(), "/v2/r/x/manifests/1");
    assert_eq!(put.header("content-type"), Some(OCI_MANIFEST));
}

#[tokio::test]
async fn configured_headers_and_user_agent_are_sent() {
    let manifest = Blob::new(OCI_MANIFEST, br#"{"schemaVersion":2}"#.to_vec());
    let m = manifest.clone();
    let server = serve(move |_| {
        Resp::new(200)
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &m.desc.digest)
            .body(m.data.to_vec())
    })
    .await;
    let hosts = tempfile::tempdir().unwrap();
    common::write_hosts_toml(
        hosts.path(),
        &server.host(),
        &format!(
            "server = \"http://{}\"\n[header]\nx-from-hosts = [\"a\", \"b\"]\n",
            server.host()
        ),
    );
    let mut options = ResolverOptions::default().with_hosts_dir(hosts.path());
    options.headers = vec![("X-Global".into(), "g".into())];
    let resolver = Resolver::new(options).unwrap();
    resolver
        .resolve(&format!("{}/r/x:1", server.host()))
        .await
        .unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.header("x-global"), Some("g"));
    let from_hosts: Vec<&str> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-from-hosts"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(from_hosts, vec!["a", "b"]);
    assert!(req.header("user-agent").unwrap().starts_with("crated/"));
    assert!(req.header("accept").unwrap().contains(OCI_INDEX));

    let err = Resolver::new(ResolverOptions {
        headers: vec![("bad header".into(), "x".into())],
        ..ResolverOptions::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}
