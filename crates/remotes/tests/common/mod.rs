//! Test support: a real `docker-registry` on 127.0.0.1, a small test image,
//! certificates, and a tiny scripted HTTP server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod http;
pub mod image;
pub mod pki;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's registry binary (package `docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// TLS settings of a test registry: PEM files of its certificate and key,
/// and of the CAs whose client certificates it requires.
pub struct RegistryTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// How to configure a test registry.
#[derive(Default)]
pub struct RegistryOptions {
    /// An htpasswd file enabling Basic auth.
    pub htpasswd: Option<PathBuf>,
    /// Serve HTTPS only.
    pub tls: Option<RegistryTls>,
}

/// A `docker-registry` process bound to 127.0.0.1 with filesystem storage in
/// a temporary directory; killed by its PID when dropped, even when the
/// test fails.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it accepts connections.
    pub fn start(options: RegistryOptions) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: install Debian's docker-registry package"
        );
        let dir = tempfile::tempdir().unwrap();
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
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Registry { child, port, dir };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}:\n{}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not listen on {addr}:\n{}", self.log());
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("registry.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An htpasswd line for `user` with a bcrypt hash of `password`, as
/// `htpasswd -B` writes it.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).unwrap();
    format!("{user}:{hash}\n")
}

/// Writes `<hosts_dir>/<host>/hosts.toml`.
pub fn write_hosts_toml(hosts_dir: &Path, host: &str, text: &str) -> PathBuf {
    let dir = hosts_dir.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts.toml"), text).unwrap();
    dir
}
