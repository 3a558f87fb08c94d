//! Image hardening: each snapshotter through containerd's `ctr` against
//! crated, malicious and broken layers, zstd layers and an HTTPS registry
//! with a test CA.
//!
//! **Needs root**: crated owns its socket and directories, mounts images
//! and (for btrfs) loop-mounts a btrfs image made here. Also needs
//! Debian's `docker-registry`, `busybox-static`, `containerd` (`ctr`) and
//! `btrfs-progs`. Every command is bounded in time
//! (the test kit's `Cmd` timeout); daemons and registries are stopped by
//! their pids when a test ends, whatever happened.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{Daemon, image_names, start_daemon_with};
use crated_e2e::image::{Entry, FileTar, TestImage, build_image, check_tree, gzip, tar_of};
use crated_e2e::registry::{Registry, RegistryOptions, RegistryTls};
use crated_e2e::sha256_digest as sha256;
use crated_e2e::{Cmd, Output};

// ---------------------------------------------------------------------
// Helpers.

/// Imports the test image as `local` and pushes it to `remote`, then
/// removes it locally so the store is empty.
fn push_test_image(daemon: &Daemon, image: &TestImage, local: &str, remote: &str, extra: &[&str]) {
    daemon
        .cratectl_stdin(&["images", "import", "-"], image.oci_archive(local))
        .ok();
    let mut args = vec!["images", "push", "--progress", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[remote, local]);
    daemon.cratectl(&args).ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
}

/// Mounts `name` (unpacked in `snapshotter`) read-only with `cratectl
/// images mount`, runs `check` on the tree, and unmounts it.
fn with_mounted(daemon: &Daemon, name: &str, snapshotter: &str, check: impl FnOnce(&Path)) {
    let target = daemon.dir().join(format!("mnt-{snapshotter}"));
    std::fs::create_dir_all(&target).unwrap();
    let target_arg = target.to_str().unwrap();
    daemon
        .cratectl(&[
            "images",
            "mount",
            "--snapshotter",
            snapshotter,
            name,
            target_arg,
        ])
        .ok();
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&target)));
    daemon.cratectl(&["images", "unmount", target_arg]).ok();
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

/// A single-manifest OCI layout tar (no index in between) whose one
/// layer is `layer` with media type `media_type`; `blob` is what is stored
/// under the layer's digest (normally `layer` itself); `diff_id` is the
/// uncompressed digest the config names.
fn layout_with_layer(
    name: &str,
    layer: &[u8],
    blob: Option<&[u8]>,
    media_type: &str,
    diff_id: &str,
) -> Vec<u8> {
    let layer_digest = sha256(layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": crated_e2e::image::host_arch(),
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": media_type, "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let mut tar = FileTar::new();
    let mut add = |path: &str, data: &[u8]| tar.add(path, data);
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(
        &format!("blobs/{}", sha256(&config).replace(':', "/")),
        &config,
    );
    add(
        &format!("blobs/{}", layer_digest.replace(':', "/")),
        blob.unwrap_or(layer),
    );
    add(
        &format!("blobs/{}", sha256(&manifest).replace(':', "/")),
        &manifest,
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest),
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"},
        }],
    }))
    .unwrap();
    add("index.json", &index);
    tar.finish()
}

/// A tar with raw entry names (no sanitising by the tar crate):
/// `(name, type, link target, data)`.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_size(data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Imports `archive`; returns the output (success or not).
fn import(daemon: &Daemon, archive: &[u8]) -> Output {
    daemon.cratectl_stdin(&["images", "import", "-"], archive)
}

/// The daemon still serves: `ctr version` and `cratectl images ls` work.
fn assert_serving(daemon: &Daemon) {
    let out = daemon.ctr(&["version"]).ok();
    assert!(out.stdout().contains("Server:"), "{}", out.stdout());
    daemon.cratectl(&["images", "ls"]).ok();
}

/// Every path under `dir` (not following symlinks).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
    }
}

/// Asserts that a file named `name` exists nowhere under the daemon's
/// directory except inside a snapshot's `fs` directory (a snapshot root).
fn assert_only_in_snapshots(daemon: &Daemon, name: &str) {
    let mut all = Vec::new();
    walk(daemon.dir(), &mut all);
    for path in all {
        if path.file_name().is_some_and(|n| n == name) {
            let inside = path
                .strip_prefix(daemon.dir())
                .unwrap()
                .components()
                .any(|c| c.as_os_str() == "fs");
            assert!(inside, "{} was written outside a snapshot", path.display());
        }
    }
}

/// An empty sentinel directory under /tmp that a malicious layer aims at.
fn sentinel() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crated-sentinel-")
        .tempdir_in("/tmp")
        .unwrap()
}

fn assert_empty(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    assert!(
        entries.is_empty(),
        "{} must stay empty: {entries:?}",
        dir.display()
    );
}

/// What a refused image leaves behind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leftover {
    /// Nothing: the content was refused before an image was created (a
    /// bad blob on import, any failed pull).
    Nothing,
    /// Import creates the image records before unpacking, as containerd's
    /// `ctr images import` does, so a layer refused while unpacking leaves
    /// the (complete, verified) image but no snapshot of it.
    ImageNotUnpacked,
}

/// After a refused import or pull: the error is clear (has all of
/// `words`), nothing is left but what `leftover` allows, no snapshot at
/// all (not even an active extraction), and the daemon serves.
fn assert_refused(daemon: &Daemon, out: Output, name: &str, words: &[&str], leftover: Leftover) {
    let out = out.fails();
    let text = format!("{}{}", out.stdout(), out.stderr).to_lowercase();
    assert!(
        words.iter().all(|w| text.contains(w)),
        "the error says all of {words:?}: {text}"
    );
    let names = image_names(daemon);
    match leftover {
        Leftover::Nothing => assert!(
            !names.contains(&name.to_string()),
            "no image {name} is left: {names:?}"
        ),
        Leftover::ImageNotUnpacked => assert_eq!(names, vec![name.to_string()]),
    }
    for snapshotter in ["overlayfs", "native"] {
        let keys = daemon
            .cratectl(&["snapshots", "--snapshotter", snapshotter, "ls", "-q"])
            .ok()
            .lines();
        assert!(
            keys.is_empty(),
            "no snapshot is left in {snapshotter}: {keys:?}"
        );
    }
    assert_serving(daemon);
}

// ---------------------------------------------------------------------
// 1. Each snapshotter through ctr.

/// `ctr images pull --snapshotter <s>` of the test image from the local
/// registry, the files seen through the mount, and `ctr snapshots`.
fn ctr_pull_with(daemon: &Daemon, snapshotter: &str) {
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/snap:1";
    let remote = format!("{}/test/snap:1", registry.localhost());
    push_test_image(daemon, &image, local, &remote, &["--plain-http"]);
    daemon
        .ctr(&[
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            snapshotter,
            &remote,
        ])
        .ok();
    let names = daemon.ctr(&["images", "ls", "-q"]).ok().lines();
    assert_eq!(names, vec![remote.clone()]);
    let check = daemon.ctr(&["images", "check"]).ok().stdout();
    assert!(check.contains("complete"), "{check}");

    with_mounted(daemon, &remote, snapshotter, |root| {
        check_tree(root, &image.expected);
    });

    let snap = |args: &[&str]| {
        let mut all = vec!["snapshots", "--snapshotter", snapshotter];
        all.extend_from_slice(args);
        daemon.ctr(&all).ok().stdout()
    };
    let ls = snap(&["ls"]);
    assert!(ls.contains(&image.chain_id()), "{ls}");
    assert!(ls.contains(&image.diff_ids[0]), "{ls}");
    assert!(ls.contains("Committed"), "{ls}");
    let tree = snap(&["tree"]);
    assert!(
        tree.contains(&image.diff_ids[0]) && tree.contains(&image.chain_id()),
        "{tree}"
    );
    let usage = snap(&["usage"]);
    assert!(usage.contains(&image.chain_id()), "{usage}");
    // An active snapshot on the chain to list its mounts.
    let key = format!("active-{snapshotter}");
    snap(&["prepare", &key, &image.chain_id()]);
    let mounts = snap(&["mounts", "/mnt", &key]);
    assert!(mounts.contains("mount"), "{mounts}");
    snap(&["rm", &key]);
    assert_serving(daemon);
}

#[test]
fn ctr_pull_native_snapshotter() {
    let daemon = crate::common::daemon();
    ctr_pull_with(&daemon, "native");
}

#[test]
fn ctr_pull_overlayfs_snapshotter() {
    let daemon = crate::common::daemon();
    ctr_pull_with(&daemon, "overlayfs");
}

/// A btrfs file system on a loop device, mounted on a temporary
/// directory; unmounted and detached when dropped.
struct BtrfsMount {
    dir: tempfile::TempDir,
}

impl BtrfsMount {
    fn create() -> BtrfsMount {
        let dir = tempfile::Builder::new()
            .prefix("crated-btrfs-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let image = dir.path().join("btrfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let run = |program: &str, args: &[&str]| {
            Cmd::new(program).args(args).run().ok();
        };
        run("truncate", &["-s", "512M", image.to_str().unwrap()]);
        run("mkfs.btrfs", &["-q", "-f", image.to_str().unwrap()]);
        let mount = BtrfsMount { dir };
        // `mount -o loop` attaches the loop device with autoclear, so the
        // unmount detaches it.
        run(
            "mount",
            &["-o", "loop", image.to_str().unwrap(), mnt.to_str().unwrap()],
        );
        mount
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for BtrfsMount {
    fn drop(&mut self) {
        let mnt = self.mnt();
        for _ in 0..50 {
            if Cmd::new("umount")
                .args([&mnt])
                .try_run()
                .is_some_and(|out| out.succeeded())
            {
                break;
            }
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
            if !mounts.contains(mnt.to_str().unwrap()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Detach the loop device if autoclear did not.
        let attached = Cmd::new("losetup")
            .args(["-j"])
            .args([self.dir.path().join("btrfs.img")])
            .try_run()
            .map(|out| out.lines())
            .unwrap_or_default();
        for line in attached {
            if let Some(dev) = line.split(':').next() {
                let _ = Cmd::new("losetup").args(["-d", dev]).try_run();
            }
        }
    }
}

#[test]
fn ctr_pull_btrfs_snapshotter() {
    assert!(
        Path::new("/usr/sbin/mkfs.btrfs").is_file() || Path::new("/sbin/mkfs.btrfs").is_file(),
        "mkfs.btrfs is missing (install Debian's btrfs-progs)"
    );
    // Declared first, dropped last: the daemon stops before the unmount.
    let btrfs = BtrfsMount::create();
    let root = btrfs.mnt().join("root");
    let daemon = start_daemon_with("", Some(&root));
    let plugins = daemon.cratectl(&["plugins", "ls"]).ok().stdout();
    let line = plugins
        .lines()
        .find(|l| l.contains("io.containerd.snapshotter.v1") && l.contains("btrfs"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("ok"),
        "the btrfs snapshotter loads: {plugins}"
    );
    ctr_pull_with(&daemon, "btrfs");
    drop(daemon);
}

// ---------------------------------------------------------------------
// 2. Malicious and broken input.

#[test]
fn path_traversal_layer_writes_nothing_outside() {
    let daemon = crate::common::daemon();
    let target = sentinel();
    let deep = format!(
        "../../../../../../../../../../..{}/escape",
        target.path().display()
    );
    let layer = raw_tar(&[
        ("../../escape", tar::EntryType::Regular, "", b"out\n"),
        (&deep, tar::EntryType::Regular, "", b"out\n"),
        ("ok.txt", tar::EntryType::Regular, "", b"ok\n"),
    ]);
    let name = "docker.io/test/traversal:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            None,
            "application/vnd.oci.image.layer.v1.tar",
            &sha256(&layer),
        ),
    );
    assert_empty(target.path());
    assert_only_in_snapshots(&daemon, "escape");
    if out.status.success() {
        // Like containerd, the names are resolved inside the root.
        assert!(image_names(&daemon).contains(&name.to_string()));
    } else {
        assert_refused(
            &daemon,
            out,
            name,
            &["escapes the root"],
            Leftover::ImageNotUnpacked,
        );
    }
    assert_serving(&daemon);
}

#[test]
fn symlink_escape_layer_writes_nothing_outside() {
    let daemon = crate::common::daemon();
    let target = sentinel();
    let target_str = target.path().to_str().unwrap().to_string();
    assert!(!Path::new("/etc/owned").exists());
    let layer = raw_tar(&[
        ("evil", tar::EntryType::Symlink, "/", b""),
        ("evil/etc/owned", tar::EntryType::Regular, "", b"owned\n"),
        ("trap", tar::EntryType::Symlink, &target_str, b""),
        ("trap/owned", tar::EntryType::Regular, "", b"owned\n"),
        (
            "rel",
            tar::EntryType::Symlink,
            "../../../../../../../..",
            b"",
        ),
        ("rel/etc/owned", tar::EntryType::Regular, "", b"owned\n"),
    ]);
    let name = "docker.io/test/symlink:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            None,
            "application/vnd.oci.image.layer.v1.tar",
            &sha256(&layer),
        ),
    );
    assert!(
        !Path::new("/etc/owned").exists(),
        "the layer wrote the host's /etc/owned"
    );
    assert_empty(target.path());
    assert_only_in_snapshots(&daemon, "owned");
    // Absolute and relative symlinks are resolved inside the snapshot
    // root, as containerd does: the files land in the image.
    out.ok();
    with_mounted(&daemon, name, "overlayfs", |root| {
        assert_eq!(std::fs::read(root.join("etc/owned")).unwrap(), b"owned\n");
        let trapped = root
            .join(target.path().strip_prefix("/").unwrap())
            .join("owned");
        assert_eq!(std::fs::read(trapped).unwrap(), b"owned\n");
    });
    assert_serving(&daemon);
}

#[test]
fn hardlink_to_host_file_is_not_followed() {
    let daemon = crate::common::daemon();
    let before = std::fs::metadata("/etc/passwd").unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let layer = raw_tar(&[
        ("stolen", tar::EntryType::Link, "/etc/passwd", b""),
        (
            "stolen2",
            tar::EntryType::Link,
            "../../../../../../etc/passwd",
            b"",
        ),
    ]);
    let name = "docker.io/test/hardlink:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            None,
            "application/vnd.oci.image.layer.v1.tar",
            &sha256(&layer),
        ),
    );
    let after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!(
        after.nlink(),
        before.nlink(),
        "/etc/passwd gained a hard link"
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
    if out.status.success() {
        with_mounted(&daemon, name, "overlayfs", |root| {
            for file in ["stolen", "stolen2"] {
                if let Ok(meta) = std::fs::metadata(root.join(file)) {
                    assert_ne!(meta.ino(), before.ino(), "{file} is the host's passwd");
                }
            }
        });
    } else {
        assert_refused(
            &daemon,
            out,
            name,
            &["hardlink target \"/etc/passwd\""],
            Leftover::ImageNotUnpacked,
        );
    }
    assert_serving(&daemon);
}

#[test]
fn gzip_bomb_is_refused_by_max_layer_size() {
    let daemon = start_daemon_with(
        "[plugins.\"io.containerd.differ.v1.walking\"]\nmax_layer_size = 1048576\n",
        None,
    );
    let zeros = vec![0u8; 16 << 20];
    let tar = tar_of(&[Entry::File("zeros", &zeros, 0o644)]);
    let layer = gzip(&tar);
    assert!(layer.len() < 1 << 20, "the bomb is small: {}", layer.len());
    let name = "docker.io/test/bomb:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            None,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            &sha256(&tar),
        ),
    );
    assert_refused(
        &daemon,
        out,
        name,
        &["exceeds the limit of 1048576", "resource exhausted"],
        Leftover::ImageNotUnpacked,
    );
    assert_only_in_snapshots(&daemon, "zeros");
}

#[test]
fn digest_mismatch_is_refused() {
    let daemon = crate::common::daemon();
    let tar = tar_of(&[Entry::File("a.txt", b"the real bytes\n", 0o644)]);
    let mut forged = tar.clone();
    let at = 600;
    forged[at] ^= 0xff;
    let name = "docker.io/test/mismatch:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &tar,
            Some(&forged),
            "application/vnd.oci.image.layer.v1.tar",
            &sha256(&tar),
        ),
    );
    assert_refused(
        &daemon,
        out,
        name,
        &["unexpected commit digest", "failed precondition"],
        Leftover::Nothing,
    );
}

#[test]
fn truncated_blob_is_refused() {
    let daemon = crate::common::daemon();
    let tar = tar_of(&[Entry::File("a.txt", &[7u8; 4096], 0o644)]);
    let layer = gzip(&tar);
    let name = "docker.io/test/truncated:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            Some(&layer[..layer.len() / 2]),
            "application/vnd.oci.image.layer.v1.tar+gzip",
            &sha256(&tar),
        ),
    );
    assert_refused(
        &daemon,
        out,
        name,
        &["unexpected commit digest"],
        Leftover::Nothing,
    );
}

#[test]
fn unknown_layer_media_type_is_refused() {
    let daemon = crate::common::daemon();
    let tar = tar_of(&[Entry::File("a.txt", b"x\n", 0o644)]);
    let name = "docker.io/test/unknown:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &tar,
            None,
            "application/vnd.example.unknown.layer",
            &sha256(&tar),
        ),
    );
    assert_refused(
        &daemon,
        out,
        name,
        &["unsupported layer media type", "not implemented"],
        Leftover::ImageNotUnpacked,
    );
}

/// A raw HTTP request to the registry; the status line.
fn http(registry: &Registry, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", registry.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        registry.port
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn manifest_pointing_at_a_missing_blob_is_not_found() {
    let daemon = crate::common::daemon();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/missing:1";
    let remote = format!("{}/test/missing:1", registry.localhost());
    push_test_image(&daemon, &image, local, &remote, &["--plain-http"]);
    // The registry serves the manifest but no longer the first layer.
    let status = http(
        &registry,
        "DELETE",
        &format!("/v2/test/missing/blobs/{}", image.layers[0]),
    );
    assert!(status.contains(" 202"), "{status}");
    let out = daemon.cratectl(&[
        "images",
        "pull",
        "--plain-http",
        "--progress",
        "none",
        &remote,
    ]);
    assert_refused(
        &daemon,
        out,
        &remote,
        &["not found", &image.layers[0]],
        Leftover::Nothing,
    );
    let out = daemon.ctr(&["images", "pull", "--plain-http", &remote]);
    let out = out.fails();
    let text = format!("{}{}", out.stdout(), out.stderr).to_lowercase();
    assert!(text.contains("not found"), "{text}");
    assert_serving(&daemon);
}

// ---------------------------------------------------------------------
// 3. zstd.

#[test]
fn zstd_layer_unpacks() {
    let daemon = crate::common::daemon();
    let tar = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/zstd.txt", b"compressed with zstd\n", 0o755),
        Entry::Symlink("etc/link", "zstd.txt"),
        Entry::Hardlink("etc/hard", "etc/zstd.txt"),
    ]);
    let layer = zstd::encode_all(&tar[..], 3).unwrap();
    let name = "docker.io/test/zstd:1";
    let out = import(
        &daemon,
        &layout_with_layer(
            name,
            &layer,
            None,
            "application/vnd.oci.image.layer.v1.tar+zstd",
            &sha256(&tar),
        ),
    )
    .ok();
    assert!(out.stdout().contains(name), "{}", out.stdout());
    with_mounted(&daemon, name, "overlayfs", |root| {
        let file = root.join("etc/zstd.txt");
        assert_eq!(std::fs::read(&file).unwrap(), b"compressed with zstd\n");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o755);
        assert_eq!(
            std::fs::read_link(root.join("etc/link")).unwrap(),
            PathBuf::from("zstd.txt")
        );
        assert_eq!(
            std::fs::metadata(root.join("etc/hard")).unwrap().ino(),
            std::fs::metadata(&file).unwrap().ino()
        );
    });
    // Through a registry too.
    let registry = Registry::start();
    let remote = format!("{}/test/zstd:1", registry.localhost());
    daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "none",
            &remote,
            name,
        ])
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", name]).ok();
    daemon
        .ctr(&["images", "pull", "--plain-http", &remote])
        .ok();
    with_mounted(&daemon, &remote, "overlayfs", |root| {
        assert_eq!(
            std::fs::read(root.join("etc/zstd.txt")).unwrap(),
            b"compressed with zstd\n"
        );
    });
}

// ---------------------------------------------------------------------
// 4. HTTPS with a test CA.

#[test]
fn https_registry_with_a_test_ca() {
    let daemon = crate::common::daemon();
    let pki_dir = daemon.dir().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let pki = crated_e2e::pki::generate(&pki_dir);
    let registry = Registry::start_with(RegistryOptions {
        htpasswd: None,
        tls: Some(RegistryTls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: None,
        }),
    });
    let host = format!("127.0.0.1:{}", registry.port);
    let hosts = daemon.dir().join("certs.d");
    std::fs::create_dir_all(hosts.join(&host)).unwrap();
    std::fs::write(
        hosts.join(&host).join("hosts.toml"),
        format!(
            "server = \"https://{host}\"\nca = \"{}\"\n",
            pki.ca.display()
        ),
    )
    .unwrap();
    let hosts_arg = hosts.to_str().unwrap();
    let image = build_image();
    let local = "docker.io/test/tls:1";
    let remote = format!("{host}/img:1");
    push_test_image(&daemon, &image, local, &remote, &["--hosts-dir", hosts_arg]);
    daemon
        .cratectl(&[
            "images",
            "pull",
            "--progress",
            "none",
            "--hosts-dir",
            hosts_arg,
            &remote,
        ])
        .ok();
    assert_eq!(image_names(&daemon), vec![remote.clone()]);
    with_mounted(&daemon, &remote, "overlayfs", |root| {
        check_tree(root, &image.expected);
    });
    daemon.cratectl(&["images", "rm", "--sync", &remote]).ok();

    // Without the CA the certificate is not trusted. (With no hosts.toml
    // at all a loopback registry is asked over plain HTTP, as containerd
    // does, so the file names the https server without a CA.)
    let empty = daemon.dir().join("no-ca.d");
    std::fs::create_dir_all(empty.join(&host)).unwrap();
    std::fs::write(
        empty.join(&host).join("hosts.toml"),
        format!("server = \"https://{host}\"\n"),
    )
    .unwrap();
    let out = daemon
        .cratectl(&[
            "images",
            "pull",
            "--progress",
            "none",
            "--hosts-dir",
            empty.to_str().unwrap(),
            &remote,
        ])
        .fails();
    let text = format!("{}{}", out.stdout(), out.stderr).to_lowercase();
    assert!(text.contains("certificate"), "{text}");
    assert!(!image_names(&daemon).contains(&remote));
    assert_serving(&daemon);
}
