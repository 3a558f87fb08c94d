//! The legacy registry keys of config version 2, `registry.mirrors` and
//! `registry.configs`, as containerd 1.7's CRI reads them when no
//! `registry.config_path` is set: a host's mirror endpoints (or the `*`
//! mirrors) are tried in order, then the registry itself unless an
//! endpoint already names it; `configs.<host>.tls` configures the TLS of
//! that host and `configs.<host>.auth` gives credentials when the request
//! has none. crated turns them into the `hosts.toml` the resolver reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crated_api::cri;
use crated_config::plugins::RegistrySection;
use serde::Deserialize;

use crate::{Error, Result};

/// `registry.mirrors.<host>`.
#[derive(Debug, Default, Deserialize)]
struct Mirror {
    #[serde(default)]
    endpoint: Vec<String>,
}

/// `registry.configs.<host>`.
#[derive(Debug, Default, Deserialize)]
struct HostConfig {
    auth: Option<LegacyAuth>,
    tls: Option<LegacyTls>,
}

/// `registry.configs.<host>.auth`.
#[derive(Debug, Default, Deserialize)]
struct LegacyAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    identitytoken: String,
}

/// `registry.configs.<host>.tls`.
#[derive(Debug, Default, Deserialize)]
struct LegacyTls {
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default)]
    ca_file: String,
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
}

/// The legacy mirrors and per-host settings.
#[derive(Debug, Default)]
pub(crate) struct Legacy {
    mirrors: HashMap<String, Mirror>,
    configs: HashMap<String, HostConfig>,
}

fn section<T: for<'de> Deserialize<'de>>(
    table: &toml::Table,
    key: &str,
) -> Result<HashMap<String, T>> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            Error::InvalidArgument(format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.{key}] is malformed: {}; fix the config",
                e.message()
            ))
        })
}

/// A TOML basic string holding `s`.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `endpoint` with containerd's default scheme: http for a loopback
/// host, https otherwise.
fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        return endpoint.to_string();
    }
    let host = endpoint.split('/').next().unwrap_or_default();
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    let local = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme = if local { "http" } else { "https" };
    format!("{scheme}://{endpoint}")
}

/// The host (`name[:port]`) of an endpoint URL.
fn endpoint_host(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.split('/').next().unwrap_or_default()
}

impl Legacy {
    /// The legacy keys of `registry`; a malformed one is InvalidArgument.
    pub(crate) fn parse(registry: &RegistrySection) -> Result<Legacy> {
        Ok(Legacy {
            mirrors: section(&registry.mirrors, "mirrors")?,
            configs: section(&registry.configs, "configs")?,
        })
    }

    /// The `hosts.toml` text for registry `domain`, when a mirror or a TLS
    /// setting applies to it.
    pub(crate) fn hosts_toml(&self, domain: &str) -> Option<String> {
        let endpoints: Vec<String> = self
            .mirrors
            .get(domain)
            .or_else(|| self.mirrors.get("*"))
            .map(|m| m.endpoint.iter().map(|e| with_scheme(e)).collect())
            .unwrap_or_default();
        let upstream = endpoints.iter().find(|e| endpoint_host(e) == domain);
        let applies =
            !endpoints.is_empty() || self.configs.get(domain).is_some_and(|c| c.tls.is_some());
        if !applies {
            return None;
        }
        let mut text = String::new();
        if let Some(server) = upstream {
            text.push_str(&format!("server = {}\n", quoted(server)));
        }
        text.push_str(&self.tls_lines(domain));
        for endpoint in endpoints.iter().filter(|e| Some(*e) != upstream) {
            text.push_str(&format!(
                "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
                quoted(endpoint)
            ));
            text.push_str(&self.tls_lines(endpoint_host(endpoint)));
        }
        Some(text)
    }

    /// The `hosts.toml` TLS keys of `configs.<host>.tls`.
    fn tls_lines(&self, host: &str) -> String {
        let Some(tls) = self.configs.get(host).and_then(|c| c.tls.as_ref()) else {
            return String::new();
        };
        let mut lines = String::new();
        if tls.insecure_skip_verify {
            lines.push_str("  skip_verify = true\n");
        }
        if !tls.ca_file.is_empty() {
            lines.push_str(&format!("  ca = {}\n", quoted(&tls.ca_file)));
        }
        if !tls.cert_file.is_empty() {
            let key = if tls.key_file.is_empty() {
                String::new()
            } else {
                format!(", {}", quoted(&tls.key_file))
            };
            lines.push_str(&format!("  client = [[{}{key}]]\n", quoted(&tls.cert_file)));
        }
        lines
    }

    /// The credentials `configs.<host>.auth` gives for the first of
    /// `hosts` (the registry, then the endpoints it is reached through)
    /// that has them, as the request's `AuthConfig` would carry them.
    pub(crate) fn auth(&self, hosts: &[String]) -> Option<cri::AuthConfig> {
        let auth = hosts
            .iter()
            .find_map(|h| self.configs.get(h).and_then(|c| c.auth.as_ref()))?;
        Some(cri::AuthConfig {
            username: auth.username.clone(),
            password: auth.password.clone(),
            auth: auth.auth.clone(),
            identity_token: auth.identitytoken.clone(),
            ..Default::default()
        })
    }

    /// Writes the `hosts.toml` of `domain` under `dir` (`<dir>/<domain>/`)
    /// and answers `dir`, or `None` when the legacy keys say nothing about
    /// the registry.
    pub(crate) fn write_hosts_dir(&self, dir: &Path, domain: &str) -> Result<Option<PathBuf>> {
        let Some(text) = self.hosts_toml(domain) else {
            return Ok(None);
        };
        let host_dir = dir.join(domain);
        let io = |what| {
            let path = host_dir.clone();
            move |source| Error::Io { what, path, source }
        };
        std::fs::create_dir_all(&host_dir).map_err(io("creating the registry hosts directory"))?;
        let tmp = host_dir.join(format!("hosts.toml.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io("writing the registry hosts file in"))?;
        std::fs::rename(&tmp, host_dir.join("hosts.toml"))
            .map_err(io("replacing the registry hosts file in"))?;
        Ok(Some(dir.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(text: &str) -> Legacy {
        let registry: RegistrySection = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        Legacy::parse(&registry).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn mirrors_come_first_then_the_registry() {
        let l = legacy(
            r#"
            [mirrors."docker.io"]
            endpoint = ["mirror.example:5000", "127.0.0.1:5001/v2"]
            [configs."mirror.example:5000".tls]
            ca_file = "/etc/ca.pem"
            cert_file = "/etc/c.pem"
            key_file = "/etc/k.pem"
            "#,
        );
        let text = l.hosts_toml("docker.io").unwrap_or_default();
        let expected = "\n[host.\"https://mirror.example:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"/etc/ca.pem\"\n  client = [[\"/etc/c.pem\", \"/etc/k.pem\"]]\n\n[host.\"http://127.0.0.1:5001/v2\"]\n  capabilities = [\"pull\", \"resolve\"]\n";
        assert_eq!(text, expected);
        let entries = crated_remotes::hosts::parse_hosts_toml(Path::new("/"), &text)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(entries.len(), 3);
        assert!(
            entries[2].endpoint.is_none(),
            "the registry itself comes last"
        );
    }

    #[test]
    fn an_endpoint_naming_the_registry_is_its_server() {
        let l = legacy(
            r#"
            [mirrors."*"]
            endpoint = ["https://m.example"]
            [mirrors."r.example"]
            endpoint = ["https://m.example", "https://r.example"]
            [configs."r.example".tls]
            insecure_skip_verify = true
            [configs."r.example".auth]
            username = "u"
            password = "p"
            "#,
        );
        let text = l.hosts_toml("r.example").unwrap_or_default();
        assert!(
            text.starts_with("server = \"https://r.example\"\n  skip_verify = true\n"),
            "{text}"
        );
        assert!(text.contains("[host.\"https://m.example\"]"), "{text}");
        let other = l.hosts_toml("other.example").unwrap_or_default();
        assert!(other.contains("[host.\"https://m.example\"]"), "{other}");
        assert!(!other.contains("server"), "{other}");
        let hosts = ["m.example".to_string(), "r.example".to_string()];
        let auth = l.auth(&hosts).unwrap_or_default();
        assert_eq!((auth.username.as_str(), auth.password.as_str()), ("u", "p"));
        assert!(l.auth(&["other.example".to_string()]).is_none());
    }

    #[test]
    fn nothing_applies_without_mirrors_or_tls() {
        let l = legacy("[configs.\"r.example\".auth]\nusername = \"u\"\n");
        assert_eq!(l.hosts_toml("r.example"), None);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.write_hosts_dir(dir.path(), "r.example").ok(), Some(None));
    }

    #[test]
    fn hosts_files_are_written_per_registry() {
        let l = legacy("[mirrors.\"r.example\"]\nendpoint = [\"localhost:5000\"]\n");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let written = l.write_hosts_dir(dir.path(), "r.example").ok().flatten();
        assert_eq!(written.as_deref(), Some(dir.path()));
        let text = std::fs::read_to_string(dir.path().join("r.example/hosts.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("[host.\"http://localhost:5000\"]"), "{text}");
    }

    #[test]
    fn malformed_sections_are_refused() {
        let registry: RegistrySection = toml::from_str("[mirrors.\"r.example\"]\nendpoint = 5\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = Legacy::parse(&registry)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("registry.mirrors"), "{err}");
    }
}
