//! Registry, image and daemon fixtures shared by the image hardening
//! tests: Debian's `docker-registry` on 127.0.0.1 (plain HTTP, Basic auth
//! or TLS), layer tars, a crated with extra configuration, and `ctr`.
//!
//! **Needs root** (the daemon, mounts).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Daemon, Output, run_command};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// How long the registry may take to answer `/v2/`.
pub const REGISTRY_START: Duration = Duration::from_secs(15);
/// Debian's registry binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// containerd's CLI.
pub const CTR_BIN: &str = "/usr/bin/ctr";

// ---------------------------------------------------------------------
// The registry.

/// `docker-registry` on 127.0.0.1 and a free port, storing in a temporary
/// directory; stopped by its pid when dropped.
pub struct Registry {
    pub dir: TempDir,
    pub port: u16,
    pub child: Option<Child>,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with_auth(None)
    }

    /// A registry that wants Basic authentication as `user:password`.
    pub fn start_with_auth(credentials: Option<(&str, &str)>) -> Registry {
        Self::start_full(credentials, None)
    }

    /// A registry serving HTTPS with `cert` and `key` (PEM files).
    pub fn start_tls(cert: &Path, key: &Path) -> Registry {
        Self::start_full(None, Some((cert, key)))
    }

    fn start_full(credentials: Option<(&str, &str)>, tls: Option<(&Path, &Path)>) -> Registry {
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
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
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

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + REGISTRY_START;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("docker-registry exited with {status}\n{}", self.log());
            }
            if self.get("/v2/").is_some_and(|r| {
                r.starts_with("HTTP/1.1 200")
                    || r.starts_with("HTTP/1.1 401")
                    || r.starts_with("HTTP/1.0 400")
            }) {
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
    pub fn get(&self, path: &str) -> Option<String> {
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

    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    pub fn log(&self) -> String {
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

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar entry of a test layer.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
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

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The files the unpacked image must have, and what must be gone.
pub struct Expected {
    pub busybox: Vec<u8>,
}

pub const APPLETS: [&str; 4] = ["sh", "ls", "cat", "echo"];

/// The platform that is not the host's in the test index.
pub fn other_platform() -> (&'static str, &'static str) {
    if std::env::consts::ARCH == "aarch64" {
        ("amd64", "")
    } else {
        ("arm64", "v8")
    }
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The blobs of the test image and its root (an index).
pub struct TestImage {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub index_digest: String,
    pub index_size: usize,
    pub host_manifest: String,
    pub other_config: String,
    pub layers: Vec<String>,
    pub diff_ids: Vec<String>,
    pub expected: Expected,
}

pub fn build_image() -> TestImage {
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
    pub fn oci_archive(&self, name: &str) -> Vec<u8> {
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
    pub fn chain_id(&self) -> String {
        let second = sha256(format!("{} {}", self.diff_ids[0], self.diff_ids[1]).as_bytes());
        assert!(second.starts_with("sha256:"));
        second
    }
}

// ---------------------------------------------------------------------
// Helpers.

pub fn ctr(daemon: &Daemon, args: &[&str]) -> Output {
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

pub fn lines(out: &Output) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// Mounts image `name` with `cratectl images mount`, checks its files, and
/// unmounts it again.
pub fn assert_image_files(daemon: &Daemon, image: &TestImage, name: &str) {
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

pub fn check_tree(root: &Path, expected: &Expected) {
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

pub fn snapshot_keys(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["snapshots", "ls", "-q"]).ok())
}

pub fn content_digests(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["content", "ls", "-q"]).ok())
}

pub fn image_names(daemon: &Daemon) -> Vec<String> {
    lines(&daemon.cratectl(&["images", "ls", "-q"]).ok())
}

// ---------------------------------------------------------------------
// Tests.

/// The collection schedule of the tests: on request only, unless `extra`
/// configures the scheduler itself.
const GC_ON_REQUEST: &str = r#"[plugins."io.containerd.gc.v1.scheduler"]
startup_delay = "24h"
deletion_threshold = 1000000000
mutation_threshold = 0
"#;

/// Starts crated like [`Daemon::start`], with `extra` appended to its
/// configuration and, if given, `root` as its root directory. The garbage
/// collector runs on request only unless `extra` has its own
/// `[plugins."io.containerd.gc.v1.scheduler"]` table.
pub fn start_daemon_with(extra: &str, root: Option<&Path>) -> Daemon {
    super::require_root_and_tools();
    let gc = if extra.contains("io.containerd.gc.v1.scheduler") {
        ""
    } else {
        GC_ON_REQUEST
    };
    let dir = tempfile::Builder::new()
        .prefix("cratectl-test-")
        .tempdir_in("/tmp")
        .expect("temporary directory");
    let path = dir.path();
    let root = root.map_or_else(|| path.join("root"), Path::to_path_buf);
    let config = format!(
        r#"version = 3
root = "{root}"
state = "{state}"

[grpc]
address = "{sock}"

{gc}
[plugins."io.containerd.runtime.v2.task".runtime_paths]
"io.containerd.runc.v2" = "{shim}"

{extra}
"#,
        root = root.display(),
        state = path.join("state").display(),
        sock = path.join("crated.sock").display(),
        shim = super::GO_SHIM,
    );
    std::fs::write(path.join("config.toml"), config).expect("write config");
    std::fs::create_dir_all(path.join("fifo")).expect("fifo dir");
    let log = std::fs::File::create(path.join("crated.log")).expect("log file");
    let child = Command::new(super::crated_bin())
        .arg("-c")
        .arg(path.join("config.toml"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("start crated");
    let mut daemon = Daemon {
        dir,
        child: Some(child),
    };
    daemon.wait_ready();
    daemon
}
