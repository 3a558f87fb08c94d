//! Registry credentials: given explicitly (`--user user:password`) or read
//! from a docker-style `config.json` (`auths`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crated_core::{Error, Result};
use futures::future::BoxFuture;
use serde::Deserialize;

/// A username and secret. An empty username with a secret is an identity
/// (refresh) token, exchanged at the token endpoint with OAuth2.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The username; empty for an identity token.
    pub username: String,
    /// The password, or the identity token.
    pub secret: String,
}

impl Credential {
    /// A username and password.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Credential {
        Credential {
            username: username.into(),
            secret: secret.into(),
        }
    }

    /// Parses ctr's `--user` value, `user[:password]`.
    pub fn from_user_flag(user: &str) -> Credential {
        match user.split_once(':') {
            Some((u, p)) => Credential::new(u, p),
            None => Credential::new(user, ""),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One `auths` entry of `config.json`.
#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

/// The logins of a docker-style `config.json`, by registry host.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: HashMap<String, Credential>,
}

impl DockerConfig {
    /// Parses the text of a `config.json`. An entry's base64 `auth`
    /// (`user:password`) wins over `username`/`password`; an
    /// `identitytoken` wins over both.
    pub fn parse(text: &str) -> Result<DockerConfig> {
        let file: ConfigFile = serde_json::from_str(text).map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::InvalidArgument,
                "invalid docker config",
                e,
            )
        })?;
        let mut auths = HashMap::new();
        for (key, entry) in file.auths {
            let credential = if !entry.identitytoken.is_empty() {
                Credential::new("", entry.identitytoken)
            } else if !entry.auth.is_empty() {
                let decoded = STANDARD.decode(entry.auth.trim()).map_err(|e| {
                    Error::with_source(
                        crated_core::ErrorKind::InvalidArgument,
                        format_args!("invalid docker config: auth for {key:?}"),
                        e,
                    )
                })?;
                let decoded = String::from_utf8(decoded).map_err(|_| {
                    Error::invalid_argument(format!(
                        "invalid docker config: auth for {key:?} is not UTF-8"
                    ))
                })?;
                let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "invalid docker config: auth for {key:?} is not user:password"
                    ))
                })?;
                Credential::new(user, pass)
            } else if !entry.username.is_empty() || !entry.password.is_empty() {
                Credential::new(entry.username, entry.password)
            } else {
                continue;
            };
            auths.insert(normalize_key(&key), credential);
        }
        Ok(DockerConfig { auths })
    }

    /// Reads and parses the `config.json` at `path`.
    pub fn load(path: &Path) -> Result<DockerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                crated_core::ErrorKind::NotFound
            } else {
                crated_core::ErrorKind::InvalidArgument
            };
            Error::new(
                kind,
                format!("reading docker config {}: {e}", path.display()),
            )
        })?;
        DockerConfig::parse(&text).map_err(|e| e.context(path.display()))
    }

    /// Where docker keeps its config: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// The config at [`DockerConfig::default_path`]; `None` when there is
    /// no such file.
    pub fn load_default() -> Result<Option<DockerConfig>> {
        let Some(path) = DockerConfig::default_path() else {
            return Ok(None);
        };
        match DockerConfig::load(&path) {
            Ok(config) => Ok(Some(config)),
            Err(e) if e.kind() == crated_core::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The login for registry `host` (`host[:port]`). Docker Hub's names
    /// (`docker.io`, `registry-1.docker.io`, `index.docker.io`) share one.
    pub fn credential(&self, host: &str) -> Option<Credential> {
        let key = normalize_key(host);
        if let Some(c) = self.auths.get(&key) {
            return Some(c.clone());
        }
        if is_docker_hub(&key) {
            return ["index.docker.io", "docker.io", "registry-1.docker.io"]
                .iter()
                .find_map(|k| self.auths.get(*k).cloned());
        }
        None
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// A config key (`https://index.docker.io/v1/`, `r.io:5000`, `http://r.io`)
/// as a bare `host[:port]`.
fn normalize_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Credentials asked for when a registry host challenges, e.g. from the
/// client of a transfer over its auth stream.
pub trait CredentialSource: Send + Sync {
    /// The credential for `host`, if the source has one.
    fn credential<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<Credential>>;
}

/// Where credentials for a registry host come from: an explicit credential
/// used for every host (as ctr's `--user`), then a docker config, then a
/// source asked when a host challenges.
#[derive(Clone, Default)]
pub struct Credentials {
    explicit: Option<Credential>,
    docker_config: Option<Arc<DockerConfig>>,
    source: Option<Arc<dyn CredentialSource>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("explicit", &self.explicit)
            .field("docker_config", &self.docker_config.is_some())
            .field("source", &self.source.is_some())
            .finish()
    }
}

impl Credentials {
    /// No credentials: anonymous access only.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// `credential` for every registry host.
    pub fn explicit(credential: Credential) -> Credentials {
        Credentials {
            explicit: Some(credential),
            ..Credentials::default()
        }
    }

    /// Logins from `config`, by host.
    pub fn from_docker_config(config: DockerConfig) -> Credentials {
        Credentials {
            docker_config: Some(Arc::new(config)),
            ..Credentials::default()
        }
    }

    /// Credentials asked of `source`, host by host, when a host challenges.
    pub fn from_source(source: Arc<dyn CredentialSource>) -> Credentials {
        Credentials {
            source: Some(source),
            ..Credentials::default()
        }
    }

    /// Adds `config` as the fallback for hosts without explicit credentials.
    pub fn with_docker_config(mut self, config: DockerConfig) -> Credentials {
        self.docker_config = Some(Arc::new(config));
        self
    }

    /// The credential to use for `host` that is known without asking: the
    /// explicit one, else the docker config's.
    pub fn for_host(&self, host: &str) -> Option<Credential> {
        self.explicit
            .clone()
            .or_else(|| self.docker_config.as_ref()?.credential(host))
    }

    /// The credential to use for `host`: [`Credentials::for_host`], else
    /// what the source answers.
    pub async fn lookup(&self, host: &str) -> Option<Credential> {
        if let Some(known) = self.for_host(host) {
            return Some(known);
        }
        self.source.as_ref()?.credential(host).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
        "auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "localhost:5000": {"username": "alice", "password": "pw"},
            "http://r.example.com:8080/path": {"auth": "Ym9iOnA6dzpk"},
            "tok.example.com": {"identitytoken": "refresh-me", "auth": "eDp5"},
            "empty.example.com": {}
        },
        "credsStore": "desktop"
    }"#;

    #[test]
    fn parses_auths() {
        let cfg = DockerConfig::parse(CONFIG).unwrap();
        assert_eq!(
            cfg.credential("registry-1.docker.io"),
            Some(Credential::new("hub", "secret"))
        );
        assert_eq!(
            cfg.credential("docker.io"),
            Some(Credential::new("hub", "secret"))
        );
        assert_eq!(
            cfg.credential("localhost:5000"),
            Some(Credential::new("alice", "pw"))
        );
        assert_eq!(
            cfg.credential("r.example.com:8080"),
            Some(Credential::new("bob", "p:w:d"))
        );
        assert_eq!(
            cfg.credential("tok.example.com"),
            Some(Credential::new("", "refresh-me"))
        );
        assert_eq!(cfg.credential("empty.example.com"), None);
        assert_eq!(cfg.credential("localhost:5001"), None);
    }

    #[test]
    fn rejects_bad_configs() {
        for bad in [
            "not json",
            r#"{"auths": {"x": {"auth": "%%%"}}}"#,
            r#"{"auths": {"x": {"auth": "bm9jb2xvbg=="}}}"#,
        ] {
            assert_eq!(
                DockerConfig::parse(bad).unwrap_err().kind(),
                crated_core::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
        assert!(DockerConfig::parse("{}").unwrap().credential("x").is_none());
    }

    #[test]
    fn loads_files_and_layers_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(
            DockerConfig::load(&path).unwrap_err().kind(),
            crated_core::ErrorKind::NotFound
        );
        std::fs::write(&path, CONFIG).unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        let creds = Credentials::from_docker_config(cfg.clone());
        assert_eq!(creds.for_host("localhost:5000").unwrap().username, "alice");
        let creds =
            Credentials::explicit(Credential::from_user_flag("u:p")).with_docker_config(cfg);
        assert_eq!(
            creds.for_host("localhost:5000"),
            Some(Credential::new("u", "p"))
        );
        assert_eq!(Credentials::none().for_host("x"), None);
        assert_eq!(
            Credential::from_user_flag("solo"),
            Credential::new("solo", "")
        );
        assert!(!format!("{:?}", Credential::new("u", "hidden")).contains("hidden"));
    }
}
