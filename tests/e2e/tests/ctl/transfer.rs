//! `cratectl images pull|push|import|export|mount|unmount|usage|prune`,
//! `content fetch` and `snapshots …` against a real crated and a local
//! registry, with containerd's `ctr` pulling the same image for
//! comparison.
//!
//! **Needs root**: crated owns its socket and directories, and `images
//! mount` mounts. Also needs Debian's `docker-registry` (the registry, run
//! on 127.0.0.1 with a generated config), `busybox-static` (the image's
//! content) and `containerd` (`ctr`). Every command is bounded in time
//! (the test kit's `Cmd` timeout); the daemon and the registry are stopped by
//! their pids when the test ends, whatever happened.
//!
//! The test image is built here: a gzip layer with `/bin/busybox`, applet
//! symlinks, a hard link and a few files; an uncompressed layer on top
//! with a whiteout and an opaque directory; a config per platform; an
//! OCI index naming the host's platform and one other.

use crate::common::{
    Daemon, assert_image_files, content_digests, image_names, push_then_remove, snapshot_keys,
};
use crated_e2e::Cmd;
use crated_e2e::image::{FileTar, TestImage, build_image, other_platform};
use crated_e2e::registry::Registry;

// ---------------------------------------------------------------------
// Tests.

/// Import, mount, snapshots, push, remove, pull back, export and import
/// again, fetch, usage and prune: one image through every command.
#[test]
fn images_round_trip_through_a_registry() {
    let daemon = crate::common::daemon();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:1";
    let remote = format!("{}/test/busybox:1", registry.localhost());

    // Import an OCI layout: the image is created and unpacked.
    let archive = daemon.dir().join("image.tar");
    std::fs::write(&archive, image.oci_archive(local)).unwrap();
    let out = daemon
        .cratectl(&["images", "import", archive.to_str().unwrap()])
        .ok();
    assert!(
        out.stdout()
            .contains(&format!("{local}: imported {}", image.index_digest)),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains(&image.chain_id()), "{}", out.stdout());
    assert_eq!(image_names(&daemon), vec![local.to_string()]);
    let keys = snapshot_keys(&daemon);
    assert!(keys.contains(&image.diff_ids[0]), "{keys:?}");
    assert!(keys.contains(&image.chain_id()), "{keys:?}");
    assert_image_files(&daemon, &image, local);

    // `images check` finds it complete.
    let check = daemon.cratectl(&["images", "check"]).ok().stdout();
    assert!(check.contains(local), "{check}");

    // Snapshots commands on the unpacked chain.
    let tree = daemon.cratectl(&["snapshots", "tree"]).ok().stdout();
    assert_eq!(
        tree,
        format!(" {}\n  \\_ {}\n", image.diff_ids[0], image.chain_id())
    );
    let info = daemon
        .cratectl(&["snapshots", "info", &image.chain_id()])
        .ok()
        .stdout();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Kind"], "Committed");
    assert_eq!(info["Parent"], image.diff_ids[0].as_str());
    let usage = daemon.cratectl(&["images", "usage", local]).ok().stdout();
    let usage_lines: Vec<&str> = usage.lines().collect();
    assert_eq!(usage_lines.len(), 3, "{usage}");
    assert!(usage_lines[0].starts_with("KEY"));
    assert!(usage_lines[1].starts_with(&image.chain_id()), "{usage}");
    assert!(usage_lines[2].starts_with(&image.diff_ids[0]), "{usage}");
    snapshots_on_an_active_snapshot(&daemon, &image);

    // Push to the registry; the registry then serves the index.
    let out = daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "plain",
            &remote,
            local,
        ])
        .ok();
    assert!(
        out.stdout().contains(&format!("{remote}: pushed")),
        "{}",
        out.stdout()
    );
    for layer in &image.layers {
        assert!(
            out.stdout().contains(&format!("{layer}: ")),
            "{}",
            out.stdout()
        );
    }
    let served = registry
        .request(
            "GET",
            &format!("/v2/test/busybox/manifests/{}", image.index_digest),
        )
        .unwrap_or_default();
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");

    // Remove everything, then pull it back.
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
    assert!(image_names(&daemon).is_empty());
    assert!(
        snapshot_keys(&daemon).is_empty(),
        "{:?}",
        snapshot_keys(&daemon)
    );
    assert!(
        content_digests(&daemon).is_empty(),
        "{:?}",
        content_digests(&daemon)
    );
    let out = daemon
        .cratectl(&[
            "images",
            "pull",
            "--plain-http",
            "--progress",
            "plain",
            &remote,
        ])
        .ok();
    for expected in [
        format!("{remote}: resolving"),
        format!("{remote}: saved"),
        format!("{}: complete", image.layers[0]),
        format!("{}: unpacked", image.layers[1]),
        "pulled ".to_string(),
    ] {
        assert!(
            out.stdout().contains(&expected),
            "{expected:?} in\n{}",
            out.stdout()
        );
    }
    assert_eq!(image_names(&daemon), vec![remote.clone()]);
    assert_image_files(&daemon, &image, &remote);

    // Export, remove, import the export.
    let exported = daemon.dir().join("exported.tar");
    daemon
        .cratectl(&["images", "export", exported.to_str().unwrap(), &remote])
        .ok();
    assert!(!daemon.dir().join("exported.tar.partial").exists());
    daemon.cratectl(&["images", "rm", "--sync", &remote]).ok();
    assert!(content_digests(&daemon).is_empty());
    let out = daemon
        .cratectl(&["images", "import", exported.to_str().unwrap()])
        .ok();
    assert!(out.stdout().contains(&remote), "{}", out.stdout());
    assert_image_files(&daemon, &image, &remote);

    // content fetch: the content, no snapshots.
    daemon.cratectl(&["images", "rm", "--sync", &remote]).ok();
    assert!(snapshot_keys(&daemon).is_empty());
    daemon
        .cratectl(&[
            "content",
            "fetch",
            "--plain-http",
            "--progress",
            "none",
            &remote,
        ])
        .ok();
    let digests = content_digests(&daemon);
    for digest in image
        .layers
        .iter()
        .chain([&image.index_digest, &image.host_manifest])
    {
        assert!(digests.contains(digest), "{digest} in {digests:?}");
    }
    assert!(snapshot_keys(&daemon).is_empty(), "fetch does not unpack");

    // snapshots unpack, then prune removes the unused image and collects.
    let out = daemon.cratectl(&["snapshots", "unpack", &remote]).ok();
    assert!(out.stdout().contains(&image.chain_id()), "{}", out.stdout());
    assert_eq!(snapshot_keys(&daemon).len(), 2);
    let out = daemon.cratectl(&["images", "prune"]).ok();
    assert!(out.stderr.contains("--all"), "{}", out.stderr);
    assert_eq!(image_names(&daemon).len(), 1);
    let out = daemon
        .cratectl(&["images", "prune", "--all", "--sync"])
        .ok();
    assert_eq!(out.lines(), vec![remote.clone()]);
    assert!(image_names(&daemon).is_empty());
    assert!(snapshot_keys(&daemon).is_empty());
    assert!(content_digests(&daemon).is_empty());
}

/// `snapshots prepare|mounts|label|usage|diff|commit|view|rm` on a
/// snapshot written through the mount commands `snapshots mounts` prints.
fn snapshots_on_an_active_snapshot(daemon: &Daemon, image: &TestImage) {
    let chain = image.chain_id();
    daemon
        .cratectl(&["snapshots", "prepare", "work", &chain])
        .ok();
    let target = daemon.dir().join("work-mnt");
    std::fs::create_dir_all(&target).unwrap();
    let mounts = daemon
        .cratectl(&["snapshots", "mounts", target.to_str().unwrap(), "work"])
        .ok()
        .stdout();
    assert!(mounts.starts_with("mount -t "), "{mounts}");
    Cmd::new("/bin/sh").args(["-c", mounts.trim()]).run().ok();
    let written = std::panic::catch_unwind(|| {
        std::fs::write(target.join("etc/hello"), b"hello\n").unwrap();
        assert!(target.join("bin/busybox").is_file());
    });
    Cmd::new("/bin/umount").args([&target]).run().ok();
    if let Err(panic) = written {
        std::panic::resume_unwind(panic);
    }

    let labelled = daemon
        .cratectl(&["snapshots", "label", "work", "team=images"])
        .ok()
        .stdout();
    assert!(labelled.contains("team=images"), "{labelled}");
    let info = daemon
        .cratectl(&["snapshots", "info", "work"])
        .ok()
        .stdout();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Kind"], "Active");
    assert_eq!(info["Parent"], chain.as_str());
    assert_eq!(info["Labels"]["team"], "images");
    let usage = daemon
        .cratectl(&["snapshots", "usage", "-b", "work"])
        .ok()
        .stdout();
    let row: Vec<&str> = usage
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.first(), Some(&"work"), "{usage}");
    assert!(row[1].parse::<u64>().unwrap() >= 6, "{usage}");

    // The layer of the change: one new file.
    let desc = daemon
        .cratectl(&["snapshots", "diff", "--descriptor", "--keep", "work"])
        .ok()
        .stdout();
    let desc: serde_json::Value = serde_json::from_str(&desc).unwrap();
    let digest = desc["digest"].as_str().unwrap().to_string();
    let blob = daemon.cratectl(&["content", "get", &digest]).ok();
    assert!(!blob.stdout().is_empty() || desc["size"].as_i64() > Some(0));
    let layer = content_bytes(daemon, &digest);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
    for entry in archive.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().display().to_string());
    }
    assert!(
        names.iter().any(|n| n.trim_end_matches('/') == "etc/hello"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("busybox")), "{names:?}");
    daemon.cratectl(&["content", "rm", &digest]).ok();

    // Commit it, view it, remove them.
    daemon
        .cratectl(&["snapshots", "commit", "work-done", "work"])
        .ok();
    daemon
        .cratectl(&["snapshots", "view", "work-view", "work-done"])
        .ok();
    let keys = snapshot_keys(daemon);
    assert!(keys.contains(&"work-done".to_string()) && keys.contains(&"work-view".to_string()));
    daemon
        .cratectl(&["snapshots", "rm", "work-view", "work-done"])
        .ok();
    daemon.cratectl(&["snapshots", "rm", "work-done"]).fails();
    assert_eq!(snapshot_keys(daemon).len(), 2);
}

/// A blob's bytes, through `cratectl content get`, without UTF-8 loss.
fn content_bytes(daemon: &Daemon, digest: &str) -> Vec<u8> {
    daemon
        .cratectl(&["content", "get", digest])
        .ok()
        .stdout_bytes
}

/// containerd's own client pulls (its client-side flow: Content.Write,
/// Images.Create, Snapshots and Diff.Apply) what cratectl pushed, and
/// cratectl sees the same image, snapshots and files.
#[test]
fn ctr_pulls_what_cratectl_pushed() {
    let daemon = crate::common::daemon();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:2";
    let remote = format!("{}/test/busybox:2", registry.localhost());
    daemon
        .cratectl_stdin(&["images", "import", "-"], image.oci_archive(local))
        .ok();
    push_then_remove(&daemon, &remote, local);
    assert!(content_digests(&daemon).is_empty());

    daemon
        .ctr(&["images", "pull", "--plain-http", &remote])
        .ok();
    let names = daemon.ctr(&["images", "ls", "-q"]).ok().lines();
    assert_eq!(names, vec![remote.clone()]);
    let snapshots = daemon.ctr(&["snapshots", "ls"]).ok().stdout();
    assert!(snapshots.contains(&image.chain_id()), "{snapshots}");
    assert_eq!(image_names(&daemon), vec![remote.clone()]);
    assert_image_files(&daemon, &image, &remote);
    // The other platform was not fetched.
    assert!(!content_digests(&daemon).contains(&image.other_config));

    // A writable mount: the change lands in the mount's own snapshot,
    // which unmount removes.
    let target = daemon.dir().join("rw");
    std::fs::create_dir_all(&target).unwrap();
    let target_arg = target.to_str().unwrap();
    daemon
        .cratectl(&["images", "mount", "--rw", &remote, target_arg])
        .ok();
    let written = std::fs::write(target.join("etc/written"), b"rw\n");
    let keys = snapshot_keys(&daemon);
    daemon.cratectl(&["images", "unmount", target_arg]).ok();
    written.unwrap();
    assert!(keys.contains(&target_arg.to_string()), "{keys:?}");
    assert!(!snapshot_keys(&daemon).contains(&target_arg.to_string()));
    assert!(!target.join("etc/written").exists());

    // ctr reads what cratectl's pull wrote too.
    daemon.cratectl(&["images", "rm", "--sync", &remote]).ok();
    daemon
        .cratectl(&[
            "images",
            "pull",
            "--plain-http",
            "--progress",
            "none",
            &remote,
        ])
        .ok();
    let check = daemon.ctr(&["images", "check"]).ok().stdout();
    assert!(check.contains("complete"), "{check}");
    let tree = daemon.ctr(&["snapshots", "tree"]).ok().stdout();
    assert!(tree.contains(&image.chain_id()), "{tree}");
    let usage = daemon.ctr(&["snapshots", "usage"]).ok().stdout();
    assert!(usage.contains(&image.diff_ids[0]), "{usage}");
}

/// Pulling platforms: `--platform` picks the other one (fetched, not
/// runnable here, so with `--no-unpack`), and a platform the index lacks
/// fails cleanly.
#[test]
fn pull_platforms() {
    let daemon = crate::common::daemon();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:3";
    let remote = format!("{}/test/busybox:3", registry.localhost());
    daemon
        .cratectl_stdin(
            &["images", "import", "--all-platforms", "--no-unpack", "-"],
            image.oci_archive(local),
        )
        .ok();
    assert!(snapshot_keys(&daemon).is_empty(), "--no-unpack");
    assert!(content_digests(&daemon).contains(&image.other_config));
    push_then_remove(&daemon, &remote, local);

    // A hosts.toml that says the registry speaks HTTP replaces
    // --plain-http.
    let hosts = daemon.dir().join("hosts.d");
    let host_dir = hosts.join(registry.localhost());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n",
            host = registry.localhost()
        ),
    )
    .unwrap();
    let out = daemon
        .cratectl(&[
            "content",
            "fetch",
            "--hosts-dir",
            hosts.to_str().unwrap(),
            "--progress",
            "plain",
            &remote,
        ])
        .ok();
    assert!(out.stdout().contains("fetched "), "{}", out.stdout());
    assert!(content_digests(&daemon).contains(&image.host_manifest));
    daemon.cratectl(&["images", "rm", "--sync", &remote]).ok();
    assert!(content_digests(&daemon).is_empty());

    let (arch, variant) = other_platform();
    let platform = if variant.is_empty() {
        format!("linux/{arch}")
    } else {
        format!("linux/{arch}/{variant}")
    };
    daemon
        .cratectl(&[
            "images",
            "pull",
            "--plain-http",
            "--no-unpack",
            "--progress",
            "plain",
            "--platform",
            &platform,
            &remote,
        ])
        .ok();
    let digests = content_digests(&daemon);
    assert!(digests.contains(&image.other_config), "{digests:?}");
    assert!(snapshot_keys(&daemon).is_empty());

    let out = daemon
        .cratectl(&[
            "images",
            "pull",
            "--plain-http",
            "--progress",
            "plain",
            "--platform",
            "linux/s390x",
            &remote,
        ])
        .fails();
    assert!(out.stderr.contains("s390x"), "{}", out.stderr);

    let out = daemon
        .cratectl(&[
            "images",
            "pull",
            "--progress",
            "plain",
            &format!("{}/test/missing:1", registry.localhost()),
            "--plain-http",
        ])
        .fails();
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
}

/// Basic authentication: `--user user:password`, or the password on stdin.
#[test]
fn basic_auth_with_user() {
    let daemon = crate::common::daemon();
    let registry = Registry::start_with_auth("alice", "s3cret");
    let image = build_image();
    let local = "docker.io/test/busybox:4";
    let remote = format!("{}/test/busybox:4", registry.localhost());
    daemon
        .cratectl_stdin(&["images", "import", "-"], image.oci_archive(local))
        .ok();
    let push = ["images", "push", "--plain-http", "--progress", "none"];
    let out = daemon
        .cratectl(&[&push[..], &[remote.as_str(), local]].concat())
        .fails();
    assert!(out.stderr.contains("authentication"), "{}", out.stderr);
    let out = daemon
        .cratectl(&[&push[..], &["-u", "alice:wrong", remote.as_str(), local]].concat())
        .fails();
    assert!(out.stderr.contains("authentication"), "{}", out.stderr);
    daemon
        .cratectl(&[&push[..], &["-u", "alice:s3cret", remote.as_str(), local]].concat())
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
    assert!(content_digests(&daemon).is_empty());
    daemon
        .cratectl_stdin(
            &[
                "images",
                "pull",
                "--plain-http",
                "--progress",
                "none",
                "-u",
                "alice",
                &remote,
            ],
            b"s3cret\n",
        )
        .ok();
    assert_image_files(&daemon, &image, &remote);
}

/// A `docker save` archive (a `manifest.json` naming a config and layer
/// tars) imports as a Docker schema 2 image and unpacks.
#[test]
fn docker_save_archives_import() {
    let daemon = crate::common::daemon();
    let image = build_image();
    let find = |digest: &str| {
        image
            .blobs
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, b)| b.clone())
            .unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_slice(&find(&image.host_manifest)).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let mut tar = FileTar::new();
    let mut add = |path: &str, data: &[u8]| tar.add(path, data);
    let config_path = format!("{}.json", &config_digest[7..]);
    add(&config_path, &find(&config_digest));
    let mut layer_paths = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        // docker save writes uncompressed layers; keep the first gzipped to
        // check both are recognised.
        let path = format!("layer{i}/layer.tar");
        add(&path, &find(layer));
        layer_paths.push(path);
    }
    let manifest_json = serde_json::to_vec(&serde_json::json!([{
        "Config": config_path,
        "RepoTags": ["saved/busybox:5"],
        "Layers": layer_paths,
    }]))
    .unwrap();
    add("manifest.json", &manifest_json);
    let archive = tar.finish();
    let out = daemon
        .cratectl_stdin(&["images", "import", "-"], archive.clone())
        .ok();
    let name = "docker.io/saved/busybox:5";
    assert!(
        out.stdout().contains(&format!("{name}: imported")),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains(&image.chain_id()), "{}", out.stdout());
    assert_image_files(&daemon, &image, name);
    // Export it again: the OCI layout carries a manifest.json too.
    let out = daemon.cratectl(&["images", "export", "-", name]).ok();
    let mut paths = Vec::new();
    let mut exported = tar::Archive::new(&out.stdout_bytes[..]);
    for entry in exported.entries().unwrap() {
        paths.push(entry.unwrap().path().unwrap().display().to_string());
    }
    for expected in ["oci-layout", "index.json", "manifest.json"] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
}
