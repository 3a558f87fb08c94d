//! End-to-end tests of the CRI ImageService on crated's socket, driven
//! through the client library's CRI clients: pulls from Debian's
//! `docker-registry` with Basic auth through a `hosts.toml` mirror, image
//! status, lists, filesystem usage and removal, and the bad inputs.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`),
//! Debian's `docker-registry` and `busybox-static` (the test image).

use std::collections::HashMap;
use std::time::Duration;

use crated_api::cri;
use crated_api::tonic::Code;
use crated_client::Client;
use crated_e2e::Daemon;
use crated_e2e::client::{connect_with, runtime};
use crated_e2e::image::{TestImage, build_image};
use crated_e2e::registry::{Registry, write_hosts_toml};

/// The registry host the images are named after: it does not resolve, so
/// a pull succeeds only through the mirror its `hosts.toml` names.
const MIRRORED: &str = "registry.crated.test";
/// The Basic credentials the registry wants.
const USER: &str = "alice";
/// Their password.
const PASSWORD: &str = "s3cret";

/// A client whose requests may take a minute (pulls).
async fn connect(daemon: &Daemon) -> Client {
    connect_with(daemon, Duration::from_secs(60)).await
}

/// The test image pushed to an authenticating registry, and a daemon
/// whose CRI plugin reads `hosts.toml` files that send `MIRRORED` to it.
struct Setup {
    daemon: Daemon,
    registry: Registry,
    image: TestImage,
    _hosts: tempfile::TempDir,
}

/// The `[plugins."io.containerd.grpc.v1.cri".registry]` section sending
/// `MIRRORED` to `registry` through a `hosts.toml` under `hosts`.
fn hosts_toml_config(registry: &Registry, hosts: &std::path::Path) -> String {
    write_hosts_toml(
        hosts,
        MIRRORED,
        &format!(
            "server = \"https://{MIRRORED}\"\n\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            registry.host()
        ),
    );
    format!(
        "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = {:?}\n",
        hosts.display().to_string()
    )
}

fn setup() -> Setup {
    setup_with(hosts_toml_config)
}

/// The registry, the test image in it, and a daemon configured by
/// `config` (given the registry and a directory for `hosts.toml` files).
fn setup_with(config: impl FnOnce(&Registry, &std::path::Path) -> String) -> Setup {
    let registry = Registry::start_with_auth(USER, PASSWORD);
    let hosts = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let daemon = Daemon::start_with_config(&config(&registry, hosts.path()));
    let image = build_image();
    let local = "docker.io/test/busybox:1";
    daemon
        .cratectl_stdin(&["images", "import", "-"], image.oci_archive(local))
        .ok();
    let remote = format!("{}/test/busybox:1", registry.localhost());
    let credentials = format!("{USER}:{PASSWORD}");
    daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "none",
            "-u",
            &credentials,
            &remote,
            local,
        ])
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
    Setup {
        daemon,
        registry,
        image,
        _hosts: hosts,
    }
}

/// A blob of the test image by digest.
fn blob<'a>(image: &'a TestImage, digest: &str) -> &'a [u8] {
    image
        .blobs
        .iter()
        .find(|(d, _)| d == digest)
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("the test image has no blob {digest}"))
}

/// The host platform's config digest: the image id the CRI reports.
fn image_id(image: &TestImage) -> String {
    let manifest: serde_json::Value = serde_json::from_slice(blob(image, &image.host_manifest))
        .unwrap_or_else(|e| panic!("test manifest: {e}"));
    manifest["config"]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("test manifest has no config: {manifest}"))
        .to_string()
}

/// What containerd's `Image.Size` counts for the host: index, manifest,
/// config and layers.
fn expected_size(image: &TestImage) -> u64 {
    let id = image_id(image);
    [image.index_digest.as_str(), &image.host_manifest, &id]
        .into_iter()
        .chain(image.layers.iter().map(String::as_str))
        .map(|d| blob(image, d).len() as u64)
        .sum()
}

fn spec(image: &str) -> Option<cri::ImageSpec> {
    Some(cri::ImageSpec {
        image: image.to_string(),
        ..Default::default()
    })
}

fn basic_auth(password: &str) -> Option<cri::AuthConfig> {
    Some(cri::AuthConfig {
        username: USER.into(),
        password: password.into(),
        ..Default::default()
    })
}

async fn pull(
    client: &Client,
    image: &str,
    auth: Option<cri::AuthConfig>,
) -> Result<String, crated_api::tonic::Status> {
    client
        .cri_images()
        .pull_image(cri::PullImageRequest {
            image: spec(image),
            auth,
            sandbox_config: None,
        })
        .await
        .map(|r| r.into_inner().image_ref)
}

async fn status(client: &Client, image: &str, verbose: bool) -> cri::ImageStatusResponse {
    client
        .cri_images()
        .image_status(cri::ImageStatusRequest {
            image: spec(image),
            verbose,
        })
        .await
        .unwrap_or_else(|e| panic!("ImageStatus {image:?}: {e}"))
        .into_inner()
}

async fn list(client: &Client, filter: Option<&str>) -> Vec<cri::Image> {
    client
        .cri_images()
        .list_images(cri::ListImagesRequest {
            filter: filter.map(|f| cri::ImageFilter { image: spec(f) }),
        })
        .await
        .unwrap_or_else(|e| panic!("ListImages {filter:?}: {e}"))
        .into_inner()
        .images
}

async fn remove(client: &Client, image: &str) {
    client
        .cri_images()
        .remove_image(cri::RemoveImageRequest { image: spec(image) })
        .await
        .unwrap_or_else(|e| panic!("RemoveImage {image:?}: {e}"));
}

/// The image records of namespace `k8s.io`: name and labels.
async fn records(client: &Client) -> HashMap<String, HashMap<String, String>> {
    client
        .clone()
        .namespace("k8s.io")
        .images()
        .list(&[])
        .await
        .unwrap_or_else(|e| panic!("images list in k8s.io: {e}"))
        .into_iter()
        .map(|i| (i.name, i.labels))
        .collect()
}

/// A pull through the mirror wants the request's credentials (none and a
/// wrong password are refused, and leave no image); the right ones pull
/// and unpack it, recorded under its tag, repo digest and id, each
/// labelled managed. ImageStatus (by each name, a short id, verbose),
/// ListImages (all, filtered) and ImageFsInfo show it; RemoveImage by tag
/// removes every record and, synchronously, its snapshots; removing it
/// again is no error. Needs root.
#[test]
fn cri_images_pull_through_a_hosts_toml_mirror_with_basic_auth() {
    let setup = setup();
    let image = &setup.image;
    let id = image_id(image);
    let tag = format!("{MIRRORED}/test/busybox:1");
    let repo_digest = format!("{MIRRORED}/test/busybox@{}", image.index_digest);
    runtime().block_on(async {
        let client = connect(&setup.daemon).await;

        for auth in [None, basic_auth("wrong")] {
            let err = pull(&client, &tag, auth.clone())
                .await
                .err()
                .unwrap_or_else(|| panic!("a pull with {auth:?} succeeded"));
            assert!(
                matches!(err.code(), Code::Unauthenticated | Code::Unknown),
                "{err:?}"
            );
            assert!(
                err.message().contains("failed to pull and unpack image"),
                "{err:?}"
            );
            assert!(err.message().contains("authoriz"), "{err:?}");
            assert!(records(&client).await.is_empty());
        }

        let image_ref = pull(&client, &tag, basic_auth(PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("PullImage {tag}: {e}\n{}", setup.registry.log()));
        assert_eq!(image_ref, id);

        let recorded = records(&client).await;
        let mut names: Vec<&String> = recorded.keys().collect();
        names.sort();
        let mut want = vec![&id, &repo_digest, &tag];
        want.sort();
        assert_eq!(names, want);
        for (name, labels) in &recorded {
            assert_eq!(
                labels.get("io.cri-containerd.image").map(String::as_str),
                Some("managed"),
                "{name}: {labels:?}"
            );
        }
        let snapshots = client.clone().namespace("k8s.io").snapshots("overlayfs");
        snapshots
            .stat(&image.chain_id())
            .await
            .unwrap_or_else(|e| panic!("the pull did not unpack {}: {e}", image.chain_id()));

        let short = id.trim_start_matches("sha256:")[..12].to_string();
        for name in [tag.as_str(), &id, &repo_digest, &short] {
            let found = status(&client, name, false).await;
            let found = found
                .image
                .unwrap_or_else(|| panic!("ImageStatus {name:?} found nothing"));
            assert_eq!(found.id, id, "{name}");
            assert_eq!(found.repo_tags, vec![tag.clone()], "{name}");
            assert_eq!(found.repo_digests, vec![repo_digest.clone()], "{name}");
            assert_eq!(found.size, expected_size(image), "{name}");
            assert_eq!(found.uid, None);
            assert!(!found.pinned);
        }
        let verbose = status(&client, &tag, true).await;
        let info: serde_json::Value = serde_json::from_str(
            verbose
                .info
                .get("info")
                .map(String::as_str)
                .unwrap_or("null"),
        )
        .unwrap_or_else(|e| panic!("verbose info is not JSON: {e}: {:?}", verbose.info));
        assert_eq!(info["chainID"].as_str(), Some(image.chain_id().as_str()));
        assert_eq!(
            info["imageSpec"]["rootfs"]["diff_ids"],
            serde_json::json!(image.diff_ids)
        );

        let all = list(&client, None).await;
        assert_eq!(
            all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec![id.as_str()]
        );
        assert_eq!(list(&client, Some(&tag)).await.len(), 1);
        assert!(
            list(&client, Some("registry.crated.test/none:1"))
                .await
                .is_empty()
        );

        let fs = client
            .cri_images()
            .image_fs_info(cri::ImageFsInfoRequest {})
            .await
            .unwrap_or_else(|e| panic!("ImageFsInfo: {e}"))
            .into_inner();
        assert_eq!(fs.image_filesystems.len(), 1, "{fs:?}");
        let usage = &fs.image_filesystems[0];
        let mountpoint = usage.fs_id.as_ref().map(|f| f.mountpoint.clone());
        assert_eq!(
            mountpoint,
            Some(
                setup
                    .daemon
                    .root()
                    .join("io.containerd.snapshotter.v1.overlayfs")
                    .display()
                    .to_string()
            )
        );
        let busybox = image.expected.busybox.len() as u64;
        let used = usage.used_bytes.as_ref().map_or(0, |u| u.value);
        assert!(
            used >= busybox,
            "{used} bytes used, busybox alone is {busybox}"
        );
        assert!(
            usage.inodes_used.as_ref().map_or(0, |u| u.value) > 5,
            "{usage:?}"
        );
        assert!(usage.timestamp > 0);

        remove(&client, &tag).await;
        assert!(records(&client).await.is_empty());
        assert!(status(&client, &id, false).await.image.is_none());
        assert!(list(&client, None).await.is_empty());
        let left = snapshots
            .list(&[])
            .await
            .unwrap_or_else(|e| panic!("snapshots list: {e}"));
        assert!(left.is_empty(), "{left:?}");
        remove(&client, &tag).await;
        remove(&client, &id).await;
    });
}

/// Bad input: an unparsable reference is InvalidArgument; an image the
/// registry lacks is NotFound (asked of the registry directly: through the
/// mirror, the unresolvable upstream is tried next and fails first); a missing image in ImageStatus answers
/// empty and RemoveImage of it is OK; the daemon keeps serving. An image
/// pulled by digest gets no tag, and RemoveImage by repo digest removes
/// it. Needs root.
#[test]
fn cri_images_bad_input_and_pull_by_digest() {
    let setup = setup();
    let image = &setup.image;
    runtime().block_on(async {
        let client = connect(&setup.daemon).await;
        let err = pull(&client, "Not/A:Valid:Ref", None)
            .await
            .err()
            .unwrap_or_else(|| panic!("an invalid reference was pulled"));
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("failed to parse image reference"),
            "{err:?}"
        );

        let missing = format!("{}/test/none:1", setup.registry.localhost());
        let err = pull(&client, &missing, basic_auth(PASSWORD))
            .await
            .err()
            .unwrap_or_else(|| panic!("{missing} was pulled"));
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert!(err.message().contains(&missing), "{err:?}");

        let empty = status(&client, &missing, true).await;
        assert!(empty.image.is_none() && empty.info.is_empty(), "{empty:?}");
        assert!(status(&client, "", false).await.image.is_none());
        remove(&client, &missing).await;
        remove(&client, "sha256:0000").await;

        let by_digest = format!("{MIRRORED}/test/busybox@{}", image.index_digest);
        let id = pull(&client, &by_digest, basic_auth(PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("PullImage {by_digest}: {e}"));
        assert_eq!(id, image_id(image));
        let found = status(&client, &by_digest, false)
            .await
            .image
            .unwrap_or_else(|| panic!("ImageStatus {by_digest} found nothing"));
        assert!(found.repo_tags.is_empty(), "{found:?}");
        assert_eq!(found.repo_digests, vec![by_digest.clone()]);
        remove(&client, &by_digest).await;
        assert!(records(&client).await.is_empty());

        let version = client
            .cri_runtime()
            .version(cri::VersionRequest::default())
            .await
            .unwrap_or_else(|e| panic!("the daemon stopped serving: {e}"));
        assert_eq!(version.into_inner().runtime_name, "crated");
    });
}

/// The legacy keys of config version 2: `registry.mirrors` sends
/// `MIRRORED` to the registry and `registry.configs.<mirror>.auth` gives
/// the credentials, so a pull without auth in the request succeeds, as
/// the sandbox image's pull (`ensure_image`) has none. Needs root.
#[test]
fn cri_images_pull_through_legacy_mirrors_with_configured_auth() {
    let setup = setup_with(|registry, _| {
        format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{MIRRORED}\"]\n  endpoint = [\"http://{host}\"]\n\
             [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"{host}\".auth]\n  username = \"{USER}\"\n  password = \"{PASSWORD}\"\n",
            host = registry.host()
        )
    });
    let tag = format!("{MIRRORED}/test/busybox:1");
    runtime().block_on(async {
        let client = connect(&setup.daemon).await;
        let id = pull(&client, &tag, None)
            .await
            .unwrap_or_else(|e| panic!("PullImage {tag}: {e}\n{}", setup.registry.log()));
        assert_eq!(id, image_id(&setup.image));
        let found = status(&client, &tag, false)
            .await
            .image
            .unwrap_or_else(|| panic!("ImageStatus {tag} found nothing"));
        assert_eq!(found.repo_tags, vec![tag.clone()]);
        let err = pull(&client, &tag, basic_auth("wrong"))
            .await
            .err()
            .unwrap_or_else(|| panic!("the request's wrong password was not used"));
        assert!(
            matches!(err.code(), Code::Unauthenticated | Code::Unknown),
            "{err:?}"
        );
    });
}
