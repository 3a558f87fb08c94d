//! `cratectl images pull|push|import|export|mount|unmount|usage|prune`,
//! `content fetch` and `snapshots …` against a real crated and a local
//! registry, with containerd's `ctr` pulling the same image for
//! comparison.
//!
//! **Needs root**: crated owns its socket and directories, and `images
//! mount` mounts. Also needs Debian's `docker-registry` (the registry, run
//! on 127.0.0.1 with a generated config), `busybox-static` (the image's
//! content) and `containerd` (`ctr`). Every command is bounded in time
//! (`common::COMMAND_TIMEOUT`); the daemon and the registry are stopped by
//! their pids when the test ends, whatever happened.
//!
//! The test image is built here: a gzip layer with `/bin/busybox`, applet
//! symlinks, a hard link and a few files; an uncompressed layer on top
//! with a whiteout and an opaque directory; a config per platform; an
//! OCI index naming the host's platform and one other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Output, run_command};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// How long the registry may take to answer `/v2/`.
const REGISTRY_START: Duration = Duration::from_secs(15);
/// Debian's registry binary.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// containerd's CLI.
const CTR_BIN: &str = "/usr/bin/ctr";

// ---------------------------------------------------------------------
// The registry.

/// `docker-registry` on 127.0.0.1 and a free port, storing in a temporary
/// directory; stopped by its pid when dropped.
struct Registry {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Registry {
    fn start() -> Registry {
        Self::start_with_auth(None)
    }

    /// A registry that wants Basic authentication as `user:password`.
    fn start_with_auth(credentials: Option<(&str, &str)>) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).is_file(),
            "{REGISTRY_BIN} is missing (install Debian's docker-registry)"
        );
        let dir = tempfile::Builder::new()
            .prefix("cratectl-registry-")
            .tempdir_in("/tmp")
            .expect("registry directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: cratectl-test\n",
            data = dir.path().join("data").display(),
        );
        if let Some((user, password)) = credentials {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: cratectl-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry {
            dir,
            port,
            child: Some(child),
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + REGISTRY_START;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("docker-registry exited with {status}\n{}", self.log());
            }
            if self
                .get("/v2/")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.1 401"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer within {REGISTRY_START:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A plain HTTP GET; the whole answer, or `None` if it failed.
    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- registry log ---\n{}", self.log());
        }
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------
// The test image.

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar entry of a test layer.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The files the unpacked image must have, and what must be gone.
struct Expected {
    busybox: Vec<u8>,
}

const APPLETS: [&str; 4] = ["sh", "ls", "cat", "echo"];

/// The platform that is not the host's in the test index.
fn other_platform() -> (&'static str, &'static str) {
    if std::env::consts::ARCH == "aarch64" {
        ("amd64", "")
    } else {
        ("arm64", "v8")
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The blobs of the test image and its root (an index).
struct TestImage {
    blobs: Vec<(String, Vec<u8>)>,
    index_digest: String,
    index_size: usize,
    host_manifest: String,
    other_config: String,
    layers: Vec<String>,
    diff_ids: Vec<String>,
    expected: Expected,
}

fn build_image() -> TestImage {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static)");
    let mut lower = vec![
        Entry::Dir("bin"),
        Entry::File("bin/busybox", &busybox, 0o755),
    ];
    for applet in APPLETS {
        lower.push(Entry::Symlink(
            Box::leak(format!("bin/{applet}").into_boxed_str()),
            "busybox",
        ));
    }
    lower.extend([
        Entry::Hardlink("bin/busybox.hard", "bin/busybox"),
        Entry::Dir("etc"),
        Entry::File("etc/hostname", b"crated-test\n", 0o644),
        Entry::File("etc/removed", b"gone in the next layer\n", 0o644),
        Entry::Dir("data"),
        Entry::File("data/old.txt", b"hidden by an opaque dir\n", 0o600),
    ]);
    let upper = vec![
        Entry::Dir("etc"),
        Entry::File("etc/.wh.removed", b"", 0o644),
        Entry::File("etc/added", b"added in layer 2\n", 0o644),
        Entry::Dir("data"),
        Entry::File("data/.wh..wh..opq", b"", 0o644),
        Entry::File("data/new.txt", b"new\n", 0o644),
    ];
    let tar1 = tar_of(&lower);
    let tar2 = tar_of(&upper);
    let layer1 = gzip(&tar1);
    let diff_ids = vec![sha256(&tar1), sha256(&tar2)];
    let layers = vec![sha256(&layer1), sha256(&tar2)];
    let mut blobs = vec![
        (layers[0].clone(), layer1.clone()),
        (layers[1].clone(), tar2.clone()),
    ];
    let layer_descriptors = serde_json::json!([
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layers[0], "size": layer1.len()},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layers[1], "size": tar2.len()},
    ]);
    let mut manifests = Vec::new();
    let mut host_manifest = String::new();
    let mut other_config = String::new();
    let (other_arch, other_variant) = other_platform();
    for (arch, variant) in [(host_arch(), ""), (other_arch, other_variant)] {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "variant": variant,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = sha256(&config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layer_descriptors,
        }))
        .unwrap();
        let manifest_digest = sha256(&manifest);
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if !variant.is_empty() {
            platform["variant"] = variant.into();
        }
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": platform,
        }));
        if arch == host_arch() {
            host_manifest = manifest_digest.clone();
        } else {
            other_config = config_digest.clone();
        }
        blobs.push((config_digest, config));
        blobs.push((manifest_digest, manifest));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let index_digest = sha256(&index);
    let index_size = index.len();
    blobs.push((index_digest.clone(), index));
    TestImage {
        blobs,
        index_digest,
        index_size,
        host_manifest,
        other_config,
        layers,
        diff_ids,
        expected: Expected { busybox },
    }
}

impl TestImage {
    /// An OCI layout tar naming the index `name`.
    fn oci_archive(&self, name: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (digest, data) in &self.blobs {
            add(&format!("blobs/{}", digest.replace(':', "/")), data);
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": self.index_digest,
                "size": self.index_size,
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"},
            }],
        }))
        .unwrap();
        add("index.json", &index);
        builder.into_inner().unwrap()
    }

    /// The chain id of the whole image.
    fn chain_id(&self) -> String {
        let second = sha256(format!("{} {}", self.diff_ids[0], self.diff_ids[1]).as_bytes());
        assert!(second.starts_with("sha256:"));
        second
    }
}

// ---------------------------------------------------------------------
// Helpers.

fn ctr(daemon: &Daemon, args: &[&str]) -> Output {
    assert!(
        Path::new(CTR_BIN).is_file(),
        "{CTR_BIN} is missing (install Debian's containerd)"
    );
    let mut cmd = Command::new(CTR_BIN);
    cmd.env_remove("CONTAINERD_NAMESPACE")
        .env_remove("CONTAINERD_SNAPSHOTTER")
        .arg("-a")
        .arg(daemon.socket())
        .args(args);
    run_command(cmd, None)
}

fn lines(out: &Output) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// Mounts image `name` with `cratectl images mount`, checks its files, and
/// unmounts it again.
fn assert_image_files(daemon: &Daemon, image: &TestImage, name: &str) {
    let target = daemon
        .dir()
        .join(format!("mnt-{}", sha256(name.as_bytes())));
    std::fs::create_dir_all(&target).unwrap();
    let target_arg = target.to_str().unwrap();
    let out = daemon.cratectl(&["images", "mount", name, target_arg]).ok();
    assert!(
        out.stdout.contains(&image.chain_id()),
        "mount prints the chain id: {}",
        out.stdout
    );
    let checked = std::panic::catch_unwind(|| check_tree(&target, &image.expected));
    daemon.cratectl(&["images", "unmount", target_arg]).ok();
    assert!(
        std::fs::read_dir(&target).unwrap().next().is_none(),
        "the target is empty after unmount"
    );
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

fn check_tree(root: &Path, expected: &Expected) {
    let busybox = std::fs::read(root.join("bin/busybox")).expect("bin/busybox");
    assert!(
        busybox == expected.busybox,
        "bin/busybox differs from /bin/busybox"
    );
    let meta = std::fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755);
    for applet in APPLETS {
        let link = std::fs::read_link(root.join("bin").join(applet)).expect("applet link");
        assert_eq!(link, PathBuf::from("busybox"));
    }
    let hard = std::fs::metadata(root.join("bin/busybox.hard")).unwrap();
    assert_eq!(hard.ino(), meta.ino(), "bin/busybox.hard is a hard link");
    assert_eq!(
        std::fs::read(root.join("etc/hostname")).unwrap(),
        b"crated-test\n"
    );
    assert_eq!(
        std::fs::read(root.join("etc/added")).unwrap(),
        b"added in layer 2\n"
    );
    assert!(
        !root.join("etc/removed").exists(),
        "the whiteout hides etc/removed"
    );
    assert!(
        !root.join("etc/.wh.removed").exists(),
        "whiteout files are not visible"
    );
    assert!(
        !root.join("data/old.txt").exists(),
        "the opaque directory hides data/old.txt"
    );
    assert_eq!(std::fs::read(root.join("data/new.txt")).unwrap(), b"new\n");
}

fn snapshot_keys(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["snapshots", "ls", "-q"]).ok())
}

fn content_digests(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["content", "ls", "-q"]).ok())
}

fn image_names(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["images", "ls", "-q"]).ok())
}

// ---------------------------------------------------------------------
// Tests.

/// Import, mount, snapshots, push, remove, pull back, export and import
/// again, fetch, usage and prune: one image through every command.
#[test]
fn images_round_trip_through_a_registry() {
    let daemon = Daemon::start();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:1";
    let remote = format!("{}/test/busybox:1", registry.host());

    // Import an OCI layout: the image is created and unpacked.
    let archive = daemon.dir().join("image.tar");
    std::fs::write(&archive, image.oci_archive(local)).unwrap();
    let out = daemon
        .cratectl(&["images", "import", archive.to_str().unwrap()])
        .ok();
    assert!(
        out.stdout
            .contains(&format!("{local}: imported {}", image.index_digest)),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&image.chain_id()), "{}", out.stdout);
    assert_eq!(image_names(&daemon), vec![local.to_string()]);
    let keys = snapshot_keys(&daemon);
    assert!(keys.contains(&image.diff_ids[0]), "{keys:?}");
    assert!(keys.contains(&image.chain_id()), "{keys:?}");
    assert_image_files(&daemon, &image, local);

    // `images check` finds it complete.
    let check = daemon.cratectl(&["images", "check"]).ok().stdout;
    assert!(check.contains(local), "{check}");

    // Snapshots commands on the unpacked chain.
    let tree = daemon.cratectl(&["snapshots", "tree"]).ok().stdout;
    assert_eq!(
        tree,
        format!(" {}\n  \\_ {}\n", image.diff_ids[0], image.chain_id())
    );
    let info = daemon
        .cratectl(&["snapshots", "info", &image.chain_id()])
        .ok()
        .stdout;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Kind"], "Committed");
    assert_eq!(info["Parent"], image.diff_ids[0].as_str());
    let usage = daemon.cratectl(&["images", "usage", local]).ok().stdout;
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
        out.stdout.contains(&format!("{remote}: pushed")),
        "{}",
        out.stdout
    );
    for layer in &image.layers {
        assert!(out.stdout.contains(&format!("{layer}: ")), "{}", out.stdout);
    }
    let served = registry
        .get(&format!(
            "/v2/test/busybox/manifests/{}",
            image.index_digest
        ))
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
            out.stdout.contains(&expected),
            "{expected:?} in\n{}",
            out.stdout
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
    assert!(out.stdout.contains(&remote), "{}", out.stdout);
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
    assert!(out.stdout.contains(&image.chain_id()), "{}", out.stdout);
    assert_eq!(snapshot_keys(&daemon).len(), 2);
    let out = daemon.cratectl(&["images", "prune"]).ok();
    assert!(out.stderr.contains("--all"), "{}", out.stderr);
    assert_eq!(image_names(&daemon).len(), 1);
    let out = daemon
        .cratectl(&["images", "prune", "--all", "--sync"])
        .ok();
    assert_eq!(lines(&out), vec![remote.clone()]);
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
        .stdout;
    assert!(mounts.starts_with("mount -t "), "{mounts}");
    let mounted = run_command(
        {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(mounts.trim());
            cmd
        },
        None,
    )
    .ok();
    drop(mounted);
    let written = std::panic::catch_unwind(|| {
        std::fs::write(target.join("etc/hello"), b"hello\n").unwrap();
        assert!(target.join("bin/busybox").is_file());
    });
    run_command(
        {
            let mut cmd = Command::new("/bin/umount");
            cmd.arg(&target);
            cmd
        },
        None,
    )
    .ok();
    if let Err(panic) = written {
        std::panic::resume_unwind(panic);
    }

    let labelled = daemon
        .cratectl(&["snapshots", "label", "work", "team=images"])
        .ok()
        .stdout;
    assert!(labelled.contains("team=images"), "{labelled}");
    let info = daemon.cratectl(&["snapshots", "info", "work"]).ok().stdout;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Kind"], "Active");
    assert_eq!(info["Parent"], chain.as_str());
    assert_eq!(info["Labels"]["team"], "images");
    let usage = daemon
        .cratectl(&["snapshots", "usage", "-b", "work"])
        .ok()
        .stdout;
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
        .stdout;
    let desc: serde_json::Value = serde_json::from_str(&desc).unwrap();
    let digest = desc["digest"].as_str().unwrap().to_string();
    let blob = daemon.cratectl(&["content", "get", &digest]).ok();
    assert!(!blob.stdout.is_empty() || desc["size"].as_i64() > Some(0));
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
    let mut cmd = daemon.cratectl_cmd(&["content", "get", digest]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut bytes = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let status = common::wait_bounded(&mut child, common::COMMAND_TIMEOUT, "content get");
    assert!(status.success());
    bytes
}

/// containerd's own client pulls (its client-side flow: Content.Write,
/// Images.Create, Snapshots and Diff.Apply) what cratectl pushed, and
/// cratectl sees the same image, snapshots and files.
#[test]
fn ctr_pulls_what_cratectl_pushed() {
    let daemon = Daemon::start();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:2";
    let remote = format!("{}/test/busybox:2", registry.host());
    daemon
        .cratectl_stdin(&["images", "import", "-"], &image.oci_archive(local))
        .ok();
    daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "none",
            &remote,
            local,
        ])
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();
    assert!(content_digests(&daemon).is_empty());

    ctr(&daemon, &["images", "pull", "--plain-http", &remote]).ok();
    let names = lines(&ctr(&daemon, &["images", "ls", "-q"]).ok());
    assert_eq!(names, vec![remote.clone()]);
    let snapshots = ctr(&daemon, &["snapshots", "ls"]).ok().stdout;
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
    let check = ctr(&daemon, &["images", "check"]).ok().stdout;
    assert!(check.contains("complete"), "{check}");
    let tree = ctr(&daemon, &["snapshots", "tree"]).ok().stdout;
    assert!(tree.contains(&image.chain_id()), "{tree}");
    let usage = ctr(&daemon, &["snapshots", "usage"]).ok().stdout;
    assert!(usage.contains(&image.diff_ids[0]), "{usage}");
}

/// Pulling platforms: `--platform` picks the other one (fetched, not
/// runnable here, so with `--no-unpack`), and a platform the index lacks
/// fails cleanly.
#[test]
fn pull_platforms() {
    let daemon = Daemon::start();
    let registry = Registry::start();
    let image = build_image();
    let local = "docker.io/test/busybox:3";
    let remote = format!("{}/test/busybox:3", registry.host());
    daemon
        .cratectl_stdin(
            &["images", "import", "--all-platforms", "--no-unpack", "-"],
            &image.oci_archive(local),
        )
        .ok();
    assert!(snapshot_keys(&daemon).is_empty(), "--no-unpack");
    assert!(content_digests(&daemon).contains(&image.other_config));
    daemon
        .cratectl(&[
            "images",
            "push",
            "--plain-http",
            "--progress",
            "none",
            &remote,
            local,
        ])
        .ok();
    daemon.cratectl(&["images", "rm", "--sync", local]).ok();

    // A hosts.toml that says the registry speaks HTTP replaces
    // --plain-http.
    let hosts = daemon.dir().join("hosts.d");
    let host_dir = hosts.join(registry.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n",
            host = registry.host()
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
    assert!(out.stdout.contains("fetched "), "{}", out.stdout);
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
            &format!("{}/test/missing:1", registry.host()),
            "--plain-http",
        ])
        .fails();
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
}

/// Basic authentication: `--user user:password`, or the password on stdin.
#[test]
fn basic_auth_with_user() {
    let daemon = Daemon::start();
    let registry = Registry::start_with_auth(Some(("alice", "s3cret")));
    let image = build_image();
    let local = "docker.io/test/busybox:4";
    let remote = format!("{}/test/busybox:4", registry.host());
    daemon
        .cratectl_stdin(&["images", "import", "-"], &image.oci_archive(local))
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
    let daemon = Daemon::start();
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
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data).unwrap();
    };
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
    let archive = builder.into_inner().unwrap();
    let out = daemon
        .cratectl_stdin(&["images", "import", "-"], &archive)
        .ok();
    let name = "docker.io/saved/busybox:5";
    assert!(
        out.stdout.contains(&format!("{name}: imported")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&image.chain_id()), "{}", out.stdout);
    assert_image_files(&daemon, &image, name);
    // Export it again: the OCI layout carries a manifest.json too.
    let out = daemon
        .cratectl_cmd(&["images", "export", "-", name])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut paths = Vec::new();
    let mut exported = tar::Archive::new(&out.stdout[..]);
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
