//! Registry host configuration: containerd's `hosts.toml` directories
//! (`config_path`), the defaults used without one, and the TLS settings of
//! each endpoint.
//!
//! For a registry named `host[:port]`, the directory `<root>/host_port_`,
//! then `<root>/host:port`, then `<root>/_default` is used, the first that
//! exists. In it, `hosts.toml` lists mirrors (`[host."…"]`, tried in file
//! order) and the upstream `server` (tried last). Without `hosts.toml`, the
//! directory's `*.crt` files are CA certificates and `*.cert`/`*.key` pairs
//! client certificates, as in Docker's `certs.d`.
//!
//! Without any configuration the endpoint is `https://<host>/v2`
//! (`registry-1.docker.io` for `docker.io`). As in containerd 1.6, a
//! loopback host (`localhost`, `127.0.0.0/8`, `::1`) defaults to plain HTTP,
//! and [`HostOptions::plain_http`] (`--plain-http`) makes every host plain
//! HTTP. An HTTPS registry on a loopback address needs a `hosts.toml` with
//! `server = "https://…"`.

mod file;
pub(crate) mod tls;

use std::net::IpAddr;
use std::ops::BitOr;
use std::path::{Path, PathBuf};

use crated_core::{Error, Result};

pub use file::{load_host_dir, parse_hosts_toml};

/// What a registry endpoint may be used for (hosts.toml `capabilities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities(u8);

impl Capabilities {
    /// No capability.
    pub const NONE: Capabilities = Capabilities(0);
    /// Fetch content by digest.
    pub const PULL: Capabilities = Capabilities(1);
    /// Resolve a tag to a digest.
    pub const RESOLVE: Capabilities = Capabilities(2);
    /// Push content.
    pub const PUSH: Capabilities = Capabilities(4);
    /// Pull, resolve and push: the default of an endpoint.
    pub const ALL: Capabilities = Capabilities(7);

    /// Whether every capability in `other` is in `self`.
    pub fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;

    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

/// A client certificate and its key (`None`: the key is in the cert file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientPair {
    /// PEM file with the certificate chain.
    pub cert: PathBuf,
    /// PEM file with the private key.
    pub key: Option<PathBuf>,
}

/// TLS settings of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsConfig {
    /// PEM files of CA certificates trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Client certificates offered to the server (the first is used).
    pub client_pairs: Vec<ClientPair>,
    /// Skip verification of the server's certificate chain and name.
    pub skip_verify: Option<bool>,
}

impl TlsConfig {
    /// `self` with `host`'s settings layered on top, as containerd layers a
    /// host's settings over the default TLS config.
    pub fn merged(&self, host: &TlsConfig) -> TlsConfig {
        let mut out = self.clone();
        out.ca_files.extend(host.ca_files.iter().cloned());
        out.client_pairs.extend(host.client_pairs.iter().cloned());
        if host.skip_verify.is_some() {
            out.skip_verify = host.skip_verify;
        }
        out
    }
}

/// Where an endpoint is: scheme, `host[:port]` and the API root path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// The API root, normally `/v2` (anything with `override_path`).
    pub path: String,
}

/// One endpoint as `hosts.toml` describes it. The upstream entry has no
/// endpoint when the file names no `server`; defaults fill it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Where the endpoint is, if the configuration says.
    pub endpoint: Option<Endpoint>,
    /// What it may be used for.
    pub capabilities: Capabilities,
    /// Its TLS settings.
    pub tls: TlsConfig,
    /// Extra headers sent with every request to it.
    pub headers: Vec<(String, String)>,
}

impl HostEntry {
    /// An entry with nothing set: all capabilities, no endpoint.
    pub fn unset() -> HostEntry {
        HostEntry {
            endpoint: None,
            capabilities: Capabilities::ALL,
            tls: TlsConfig::default(),
            headers: Vec::new(),
        }
    }
}

/// Options that decide the endpoints of a registry.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// The `hosts.toml` root (containerd's `config_path`, ctr's `--hosts-dir`).
    pub hosts_dir: Option<PathBuf>,
    /// Use plain HTTP for every host without an explicit scheme
    /// (`--plain-http`).
    pub plain_http: bool,
    /// TLS settings for every host, under each host's own
    /// (`--skip-verify`, `--tlscacert`, `--tlscert`/`--tlskey`).
    pub tls: TlsConfig,
}

/// The directory that configures `host` under `root`, if any.
pub fn host_dir(root: &Path, host: &str) -> Result<Option<PathBuf>> {
    let mut candidates = Vec::new();
    if let Some((name, port)) = host.rsplit_once(':')
        && !name.is_empty()
    {
        candidates.push(root.join(format!("{name}_{port}_")));
    }
    candidates.push(root.join(host));
    candidates.push(root.join("_default"));
    for dir in candidates {
        match std::fs::metadata(&dir) {
            Ok(_) => return Ok(Some(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::with_source(
                    crated_core::ErrorKind::Unknown,
                    format_args!("checking hosts directory {}", dir.display()),
                    e,
                ));
            }
        }
    }
    Ok(None)
}

/// The endpoints of registry `domain` in the order they are tried, each with
/// its endpoint filled in and its TLS settings merged over the defaults.
pub fn registry_endpoints(domain: &str, options: &HostOptions) -> Result<Vec<HostEntry>> {
    let mut entries = None;
    if let Some(root) = &options.hosts_dir
        && let Some(dir) = host_dir(root, domain)?
    {
        tracing::debug!(dir = %dir.display(), "loading host directory");
        entries = Some(load_host_dir(&dir)?);
    }
    let mut entries = entries.unwrap_or_else(|| vec![HostEntry::unset()]);
    if let Some(last) = entries.last_mut()
        && last.endpoint.is_none()
    {
        last.endpoint = Some(default_endpoint(domain, options.plain_http, last));
        last.capabilities = Capabilities::ALL;
    }
    for entry in &mut entries {
        entry.tls = options.tls.merged(&entry.tls);
    }
    Ok(entries)
}

/// containerd's default endpoint for `domain`; a loopback host also gets
/// `skip_verify` as in containerd.
fn default_endpoint(domain: &str, plain_http: bool, entry: &mut HostEntry) -> Endpoint {
    let (scheme, host) = if domain == crate::reference::DEFAULT_DOMAIN {
        ("https", "registry-1.docker.io".to_string())
    } else if is_localhost(domain) {
        entry.tls.skip_verify = Some(true);
        ("http", domain.to_string())
    } else if plain_http {
        ("http", domain.to_string())
    } else {
        ("https", domain.to_string())
    };
    Endpoint {
        scheme: scheme.to_string(),
        host,
        path: "/v2".to_string(),
    }
}

/// Whether `host` (with or without a port) is `localhost` or a loopback IP.
pub fn is_localhost(host: &str) -> bool {
    let name = strip_port(host);
    if name == "localhost" {
        return true;
    }
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host` without a trailing `:port`, IPv6 brackets kept.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_detection() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.2:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_localhost(yes), "{yes}");
        }
        for no in [
            "example.com",
            "10.0.0.1:5000",
            "[2001:db8::1]:5000",
            "localhost.example",
        ] {
            assert!(!is_localhost(no), "{no}");
        }
    }

    #[test]
    fn defaults_without_configuration() {
        let opts = HostOptions::default();
        let docker = registry_endpoints("docker.io", &opts).unwrap();
        assert_eq!(docker.len(), 1);
        let ep = docker[0].endpoint.clone().unwrap();
        assert_eq!(
            (ep.scheme.as_str(), ep.host.as_str(), ep.path.as_str()),
            ("https", "registry-1.docker.io", "/v2")
        );
        let local = registry_endpoints("127.0.0.1:5000", &opts).unwrap();
        assert_eq!(local[0].endpoint.as_ref().unwrap().scheme, "http");
        assert_eq!(local[0].tls.skip_verify, Some(true));
        let remote = registry_endpoints("registry.example.com", &opts).unwrap();
        assert_eq!(remote[0].endpoint.as_ref().unwrap().scheme, "https");
        let plain = HostOptions {
            plain_http: true,
            ..HostOptions::default()
        };
        let remote = registry_endpoints("registry.example.com", &plain).unwrap();
        assert_eq!(remote[0].endpoint.as_ref().unwrap().scheme, "http");
        assert_eq!(remote[0].capabilities, Capabilities::ALL);
    }

    #[test]
    fn host_dir_lookup_order() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(host_dir(root.path(), "r.io:5000").unwrap(), None);
        std::fs::create_dir(root.path().join("_default")).unwrap();
        assert_eq!(
            host_dir(root.path(), "r.io:5000").unwrap(),
            Some(root.path().join("_default"))
        );
        std::fs::create_dir(root.path().join("r.io:5000")).unwrap();
        assert_eq!(
            host_dir(root.path(), "r.io:5000").unwrap(),
            Some(root.path().join("r.io:5000"))
        );
        std::fs::create_dir(root.path().join("r.io_5000_")).unwrap();
        assert_eq!(
            host_dir(root.path(), "r.io:5000").unwrap(),
            Some(root.path().join("r.io_5000_"))
        );
    }

    #[test]
    fn default_tls_is_layered_under_host_tls() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("r.io");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("hosts.toml"),
            "server = \"https://r.io\"\nca = \"r.pem\"\nskip_verify = false\n",
        )
        .unwrap();
        let opts = HostOptions {
            hosts_dir: Some(root.path().to_path_buf()),
            tls: TlsConfig {
                ca_files: vec!["/etc/global.pem".into()],
                skip_verify: Some(true),
                ..TlsConfig::default()
            },
            ..HostOptions::default()
        };
        let entries = registry_endpoints("r.io", &opts).unwrap();
        assert_eq!(
            entries[0].tls.ca_files,
            vec![PathBuf::from("/etc/global.pem"), dir.join("r.pem")]
        );
        assert_eq!(entries[0].tls.skip_verify, Some(false));
    }
}
