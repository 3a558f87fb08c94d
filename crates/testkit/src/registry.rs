//! Debian's `docker-registry` on 127.0.0.1: plain HTTP, Basic auth or TLS
//! (optionally requiring client certificates), and the `hosts.toml` and
//! htpasswd files tests configure clients with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cmd::{die_with_parent, signal_pid};

/// Debian's registry binary (package `docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long the registry may take to listen.
pub const REGISTRY_START: Duration = Duration::from_secs(20);

/// A port free on 127.0.0.1 right now.
#[track_caller]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1: {e}"))
        .port()
}

/// TLS settings of a test registry: PEM files of its certificate and key,
/// and of the CAs whose client certificates it requires.
pub struct RegistryTls {
    /// The server certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// If set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

/// How to configure a test registry.
#[derive(Default)]
pub struct RegistryOptions {
    /// An htpasswd file enabling Basic auth (see [`htpasswd_line`]).
    pub htpasswd: Option<PathBuf>,
    /// Serve HTTPS only.
    pub tls: Option<RegistryTls>,
}

/// A `docker-registry` process bound to 127.0.0.1 with filesystem storage in
/// a temporary directory; stopped by its pid when dropped, even when the
/// test fails (its log is printed then).
pub struct Registry {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    /// Its directory: `config.yml`, `registry.log`, `storage/`.
    pub dir: TempDir,
}

impl Registry {
    /// A plain-HTTP registry without authentication.
    #[track_caller]
    pub fn start() -> Registry {
        Self::start_with(RegistryOptions::default())
    }

    /// A plain-HTTP registry that wants Basic authentication as `user` with
    /// `password`.
    #[track_caller]
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        let dir = registry_dir();
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, htpasswd_line(user, password))
            .unwrap_or_else(|e| panic!("writing {}: {e}", htpasswd.display()));
        Self::start_in(
            dir,
            RegistryOptions {
                htpasswd: Some(htpasswd),
                tls: None,
            },
        )
    }

    /// Starts a registry configured by `options` and waits until it accepts
    /// connections.
    #[track_caller]
    pub fn start_with(options: RegistryOptions) -> Registry {
        Self::start_in(registry_dir(), options)
    }

    #[track_caller]
    fn start_in(dir: TempDir, options: RegistryOptions) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).is_file(),
            "{REGISTRY_BIN} is missing: install Debian's docker-registry (scripts/install-deps.sh)"
        );
        let port = free_port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: crated-test-secret\n",
            dir.path().join("storage").display()
        );
        if let Some(tls) = &options.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.cert.display(),
                tls.key.display()
            ));
            if let Some(ca) = &tls.client_ca {
                config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
        }
        if let Some(htpasswd) = &options.htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: crated-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("writing {}: {e}", config_path.display()));
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("duplicating the registry log handle: {e}"));
        let mut cmd = Command::new(REGISTRY_BIN);
        cmd.arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e}"));
        let mut registry = Registry {
            child: Some(child),
            port,
            dir,
        };
        registry.wait_ready();
        registry
    }

    #[track_caller]
    fn wait_ready(&mut self) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + REGISTRY_START;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("docker-registry exited with {status}:\n{}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr} within {REGISTRY_START:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `localhost:<port>`: the name containerd's clients (`ctr`, and
    /// `cratectl` like it) reach over plain HTTP without a `hosts.toml`.
    pub fn localhost(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// A plain HTTP/1.1 request (`method` on `path`, accepting an OCI
    /// index); the whole answer, or `None` if the exchange failed.
    pub fn request(&self, method: &str, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.path().join("registry.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- registry log ---\n{}\n--- end of registry log ---",
                self.log()
            );
        }
        if let Some(mut child) = self.child.take() {
            signal_pid(child.id(), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            // Child::kill signals exactly this child's pid.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[track_caller]
fn registry_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("crated-registry.")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("cannot create a temporary directory in /tmp: {e}"))
}

/// An htpasswd line for `user` with a bcrypt hash of `password`, as
/// `htpasswd -B` writes it.
#[track_caller]
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).unwrap_or_else(|e| panic!("bcrypt: {e}"));
    format!("{user}:{hash}\n")
}

/// Writes `<hosts_dir>/<host>/hosts.toml` and returns its directory.
#[track_caller]
pub fn write_hosts_toml(hosts_dir: &Path, host: &str, text: &str) -> PathBuf {
    let dir = hosts_dir.join(host);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    std::fs::write(dir.join("hosts.toml"), text)
        .unwrap_or_else(|e| panic!("writing {}/hosts.toml: {e}", dir.display()));
    dir
}
