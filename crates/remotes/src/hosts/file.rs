//! Reading a host directory: `hosts.toml`, or Docker's `certs.d` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crated_core::{Error, Result};
use serde::Deserialize;

use super::{Capabilities, ClientPair, Endpoint, HostEntry, TlsConfig};

/// A string or a list of strings (`ca`, header values).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// One `client` item: a file holding cert and key, or a `[cert, key]` pair.
#[derive(Deserialize)]
#[serde(untagged)]
enum ClientItem {
    Combined(String),
    Pair(Vec<String>),
}

/// `client`: one combined file, or a list of items.
#[derive(Deserialize)]
#[serde(untagged)]
enum ClientSpec {
    One(String),
    Many(Vec<ClientItem>),
}

/// The settings a host section (or the file's root) may have.
#[derive(Deserialize, Default)]
struct HostFields {
    #[serde(default)]
    capabilities: Vec<String>,
    ca: Option<OneOrMany>,
    client: Option<ClientSpec>,
    skip_verify: Option<bool>,
    #[serde(default)]
    header: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    override_path: bool,
}

/// The whole file: the upstream's settings at the root, mirrors under
/// `[host."…"]`.
#[derive(Deserialize)]
struct HostsFile {
    server: Option<String>,
    #[serde(flatten)]
    root: HostFields,
    #[serde(default)]
    host: BTreeMap<String, toml::Spanned<HostFields>>,
}

/// Reads the host directory `dir`: its `hosts.toml`, or when there is none
/// (or it is empty) the Docker-style certificate files in it.
pub fn load_host_dir(dir: &Path) -> Result<Vec<HostEntry>> {
    let path = dir.join("hosts.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => parse_hosts_toml(dir, &text)
            .map_err(|e| e.context(format!("loading {}", path.display()))),
        Ok(_) => load_cert_files(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => load_cert_files(dir),
        Err(e) => Err(Error::with_source(
            crated_core::ErrorKind::Unknown,
            format_args!("reading {}", path.display()),
            e,
        )),
    }
}

/// Parses `hosts.toml` text; relative paths are taken from `base_dir`. The
/// mirrors come first in file order, the upstream (`server`, possibly
/// unset) last.
pub fn parse_hosts_toml(base_dir: &Path, text: &str) -> Result<Vec<HostEntry>> {
    let file: HostsFile = toml::from_str(text).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            "invalid hosts.toml",
            e,
        )
    })?;
    let mut mirrors: Vec<_> = file.host.into_iter().collect();
    mirrors.sort_by_key(|(_, fields)| fields.span().start);
    let mut entries = Vec::with_capacity(mirrors.len() + 1);
    for (server, fields) in mirrors {
        entries.push(host_entry(Some(&server), base_dir, fields.into_inner())?);
    }
    entries.push(host_entry(file.server.as_deref(), base_dir, file.root)?);
    Ok(entries)
}

fn host_entry(server: Option<&str>, base_dir: &Path, fields: HostFields) -> Result<HostEntry> {
    let endpoint = match server {
        Some(s) if !s.is_empty() => Some(parse_server(s, fields.override_path)?),
        _ => None,
    };
    let capabilities = if fields.capabilities.is_empty() {
        Capabilities::ALL
    } else {
        let mut caps = Capabilities::NONE;
        for c in &fields.capabilities {
            caps = caps
                | match c.to_ascii_lowercase().as_str() {
                    "pull" => Capabilities::PULL,
                    "resolve" => Capabilities::RESOLVE,
                    "push" => Capabilities::PUSH,
                    _ => return Err(Error::invalid_argument(format!("unknown capability {c:?}"))),
                };
        }
        caps
    };
    let abs = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let ca_files = fields
        .ca
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .map(|p| abs(p))
        .collect();
    let client_pairs = match fields.client {
        None => Vec::new(),
        Some(ClientSpec::One(file)) => vec![ClientPair {
            cert: abs(&file),
            key: None,
        }],
        Some(ClientSpec::Many(items)) => items
            .into_iter()
            .map(|item| match item {
                ClientItem::Combined(file) => Ok(ClientPair {
                    cert: abs(&file),
                    key: None,
                }),
                ClientItem::Pair(pair) => match pair.as_slice() {
                    [cert, key] => Ok(ClientPair {
                        cert: abs(cert),
                        key: Some(abs(key)),
                    }),
                    _ => Err(Error::invalid_argument(format!(
                        "invalid pair {pair:?} for \"client\": want [cert, key]"
                    ))),
                },
            })
            .collect::<Result<_>>()?,
    };
    let headers = fields
        .header
        .into_iter()
        .flat_map(|(k, v)| v.into_vec().into_iter().map(move |v| (k.clone(), v)))
        .collect();
    Ok(HostEntry {
        endpoint,
        capabilities,
        tls: TlsConfig {
            ca_files,
            client_pairs,
            skip_verify: fields.skip_verify,
        },
        headers,
    })
}

/// `server` or a `[host."…"]` key: scheme defaults to https, the path to
/// `/v2`, and `/v2` is appended unless `override_path` says the path is
/// the API root already.
fn parse_server(server: &str, override_path: bool) -> Result<Endpoint> {
    let with_scheme = if server.starts_with("http") {
        server.to_string()
    } else {
        format!("https://{server}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            format_args!("unable to parse server {server:?}"),
            e,
        )
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_argument(format!("server {server:?} has no host")))?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut path = clean_path(url.path());
    if !override_path && !path.ends_with("/v2") {
        path.push_str("/v2");
    }
    Ok(Endpoint {
        scheme: url.scheme().to_string(),
        host,
        path,
    })
}

/// `path` without empty segments or a trailing slash; `""` for the root.
fn clean_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .fold(String::new(), |acc, s| acc + "/" + s)
}

/// Docker's `certs.d` layout: `*.crt` are CAs, `*.cert` client certificates
/// with the key in the matching `*.key` (or in the same file).
fn load_cert_files(dir: &Path) -> Result<Vec<HostEntry>> {
    let mut entry = HostEntry::unset();
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![entry]),
        Err(e) => {
            return Err(Error::with_source(
                crated_core::ErrorKind::Unknown,
                format_args!("reading {}", dir.display()),
                e,
            ));
        }
    };
    let mut names: Vec<PathBuf> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .collect();
    names.sort();
    for path in names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => entry.tls.ca_files.push(path),
            Some("cert") => {
                let key = path.with_extension("key");
                let key = key.exists().then_some(key);
                entry.tls.client_pairs.push(ClientPair { cert: path, key });
            }
            _ => {}
        }
    }
    Ok(vec![entry])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
server = "https://registry.example.com"
ca = "upstream-ca.pem"
client = [["/etc/certs/client.cert", "client.key"], "combined.pem"]
skip_verify = false

[header]
x-custom = "1"
x-multi = ["a", "b"]

[host."https://mirror-z.example.com"]
capabilities = ["pull", "resolve"]
ca = ["/abs/ca1.pem", "ca2.pem"]

[host."http://10.0.0.1:5000"]
capabilities = ["pull"]
skip_verify = true

[host."https://proxy.example.com/registry/v2"]
override_path = true
client = "one.pem"
"#;

    #[test]
    fn parses_containerd_hosts_toml() {
        let base = Path::new("/etc/crated/certs.d/registry.example.com");
        let hosts = parse_hosts_toml(base, SAMPLE).unwrap();
        assert_eq!(hosts.len(), 4);
        // Mirrors in file order, not key order.
        let ep = |i: usize| hosts[i].endpoint.clone().unwrap();
        assert_eq!(ep(0).host, "mirror-z.example.com");
        assert_eq!(ep(0).path, "/v2");
        assert_eq!(
            hosts[0].capabilities,
            Capabilities::PULL | Capabilities::RESOLVE
        );
        assert_eq!(
            hosts[0].tls.ca_files,
            vec![PathBuf::from("/abs/ca1.pem"), base.join("ca2.pem")]
        );
        assert_eq!(
            (ep(1).scheme.as_str(), ep(1).host.as_str()),
            ("http", "10.0.0.1:5000")
        );
        assert_eq!(hosts[1].capabilities, Capabilities::PULL);
        assert_eq!(hosts[1].tls.skip_verify, Some(true));
        assert_eq!(ep(2).path, "/registry/v2");
        assert_eq!(hosts[2].capabilities, Capabilities::ALL);
        assert_eq!(
            hosts[2].tls.client_pairs,
            vec![ClientPair {
                cert: base.join("one.pem"),
                key: None
            }]
        );
        // The upstream last.
        assert_eq!(ep(3).host, "registry.example.com");
        assert_eq!(ep(3).scheme, "https");
        assert_eq!(hosts[3].tls.skip_verify, Some(false));
        assert_eq!(hosts[3].tls.ca_files, vec![base.join("upstream-ca.pem")]);
        assert_eq!(
            hosts[3].tls.client_pairs,
            vec![
                ClientPair {
                    cert: "/etc/certs/client.cert".into(),
                    key: Some(base.join("client.key"))
                },
                ClientPair {
                    cert: base.join("combined.pem"),
                    key: None
                },
            ]
        );
        assert_eq!(
            hosts[3].headers,
            vec![
                ("x-custom".to_string(), "1".to_string()),
                ("x-multi".to_string(), "a".to_string()),
                ("x-multi".to_string(), "b".to_string()),
            ]
        );
    }

    #[test]
    fn server_paths() {
        let ep = parse_server("r.io:5000", false).unwrap();
        assert_eq!(
            (ep.scheme.as_str(), ep.host.as_str(), ep.path.as_str()),
            ("https", "r.io:5000", "/v2")
        );
        assert_eq!(
            parse_server("http://r.io/a/b/", false).unwrap().path,
            "/a/b/v2"
        );
        assert_eq!(
            parse_server("http://r.io/a/v2", false).unwrap().path,
            "/a/v2"
        );
        assert_eq!(
            parse_server("http://r.io/custom", true).unwrap().path,
            "/custom"
        );
        assert_eq!(parse_server("http://r.io", true).unwrap().path, "");
        assert_eq!(
            parse_server("https://[::1]:443", false).unwrap().host,
            "[::1]"
        );
    }

    #[test]
    fn no_server_leaves_upstream_unset() {
        let hosts = parse_hosts_toml(Path::new("/d"), "[host.\"https://m.io\"]\n").unwrap();
        assert_eq!(hosts.len(), 2);
        assert!(hosts[1].endpoint.is_none());
    }

    #[test]
    fn rejects_bad_files() {
        for bad in [
            "capabilities = [\"fly\"]",
            "server = 3",
            "client = [[\"only-one\"]]",
            "[host.\"https://m.io\"]\nca = 1",
            "not toml",
        ] {
            let err = parse_hosts_toml(Path::new("/d"), bad).unwrap_err();
            assert_eq!(err.kind(), crated_core::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn cert_dir_fallback() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "ca.crt",
            "client.cert",
            "client.key",
            "other.cert",
            "README",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let hosts = load_host_dir(dir.path()).unwrap();
        assert_eq!(hosts.len(), 1);
        assert!(hosts[0].endpoint.is_none());
        assert_eq!(hosts[0].tls.ca_files, vec![dir.path().join("ca.crt")]);
        assert_eq!(
            hosts[0].tls.client_pairs,
            vec![
                ClientPair {
                    cert: dir.path().join("client.cert"),
                    key: Some(dir.path().join("client.key"))
                },
                ClientPair {
                    cert: dir.path().join("other.cert"),
                    key: None
                },
            ]
        );
    }
}
