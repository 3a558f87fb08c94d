//! The pure parts of the image service: references as the CRI names them
//! (normalised names, image ids, repo tags and digests), the user an image
//! runs as, and the registry credentials of a `PullImage` request.

use base64::Engine as _;
use crated_api::cri;
use crated_client::transfer::Credentials;
use crated_remotes::Reference;

use crate::{Error, Result};

/// Docker Hub's host names, which all name the registry `docker.io`.
const DOCKER_HUB_HOSTS: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// `reference` normalised as containerd's CRI does it (`busybox` is
/// `docker.io/library/busybox:latest`); a clear InvalidArgument otherwise.
pub(crate) fn normalize(reference: &str) -> Result<Reference> {
    Reference::parse(reference).map_err(|e| {
        Error::InvalidArgument(format!(
            "failed to parse image reference {reference:?}: {}",
            e.message()
        ))
    })
}

/// Whether `s` is a full image id (`sha256:<64 hex>`, a config digest).
pub(crate) fn is_image_id(s: &str) -> bool {
    s.contains(':') && crated_core::digest::validate(s).is_ok()
}

/// Whether `candidate` (a full image id) is what `wanted` names as an id:
/// the same id, or a prefix of it with or without `sha256:`, as
/// containerd's CRI looks up truncated ids.
pub(crate) fn id_matches(wanted: &str, candidate: &str) -> bool {
    if wanted.is_empty() {
        return false;
    }
    let hex = |s: &str| s.strip_prefix("sha256:").map(str::to_string);
    let Some(candidate_hex) = hex(candidate) else {
        return false;
    };
    match hex(wanted) {
        Some(w) => !w.is_empty() && candidate_hex.starts_with(&w),
        None => wanted.bytes().all(|b| b.is_ascii_hexdigit()) && candidate_hex.starts_with(wanted),
    }
}

/// The references containerd's CRI records for an image pulled as `named`
/// whose root is `target_digest`: the repo digest `name@digest` and, when
/// `named` has a tag, the repo tag.
pub(crate) fn repo_digest_and_tag(
    named: &Reference,
    target_digest: &str,
) -> (String, Option<String>) {
    let digest = format!("{}@{target_digest}", named.name());
    (digest, named.tag().map(|_| named.to_string()))
}

/// Splits an image's record names into repo tags and repo digests; image
/// ids and names with neither tag nor digest are in neither.
pub(crate) fn split_references(references: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for r in references {
        if is_image_id(r) {
            continue;
        }
        let Ok(parsed) = Reference::parse(r) else {
            continue;
        };
        if parsed.digest().is_some() {
            digests.push(parsed.to_string());
        } else if has_tag(r) {
            tags.push(parsed.to_string());
        }
    }
    (tags, digests)
}

/// Whether `reference` as written names a tag (a `:` in its last path
/// component; a registry port is in the first).
fn has_tag(reference: &str) -> bool {
    reference
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// The uid or the user name an image config's `User` (`user[:group]`)
/// names, as CRI's `Image` reports them: a number is a uid, anything else
/// a name; an empty user is neither.
pub(crate) fn user_from_image(user: &str) -> (Option<i64>, String) {
    let user = user.split(':').next().unwrap_or_default();
    if user.is_empty() {
        return (None, String::new());
    }
    match user.parse::<i64>() {
        Ok(uid) => (Some(uid), String::new()),
        Err(_) => (None, user.to_string()),
    }
}

/// How a pull authenticates to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum RegistryAuth {
    /// Anonymously.
    #[default]
    None,
    /// With credentials the daemon asks for when the registry challenges:
    /// a username and password, or an identity (refresh) token with no
    /// username.
    Login(Credentials),
    /// With a registry (bearer) token, sent as it is.
    Bearer(String),
}

/// The credentials `auth` gives for a pull from `hosts` (the image's
/// registry and the endpoints it is reached through), as containerd's CRI
/// reads them: none when `server_address` names none of them; `username`/`password` first, then an identity token, then
/// the base64 `auth` (`user:password`); a registry token is sent as a
/// bearer token.
pub(crate) fn parse_auth(auth: Option<&cri::AuthConfig>, hosts: &[String]) -> Result<RegistryAuth> {
    let Some(auth) = auth else {
        return Ok(RegistryAuth::None);
    };
    if !auth.server_address.is_empty()
        && !hosts.iter().any(|h| same_registry(&auth.server_address, h))
    {
        return Ok(RegistryAuth::None);
    }
    if !auth.username.is_empty() {
        return Ok(RegistryAuth::Login(Credentials {
            user: auth.username.clone(),
            secret: auth.password.clone(),
        }));
    }
    if !auth.identity_token.is_empty() {
        return Ok(RegistryAuth::Login(Credentials {
            user: String::new(),
            secret: auth.identity_token.clone(),
        }));
    }
    if !auth.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.auth.trim())
            .map_err(|e| {
                Error::InvalidArgument(format!("the pull's auth is not valid base64: {e}"))
            })?;
        let text = String::from_utf8_lossy(&decoded);
        let Some((user, password)) = text.split_once(':') else {
            return Err(Error::InvalidArgument(
                "the pull's auth decodes to no \"user:password\" pair".into(),
            ));
        };
        return Ok(RegistryAuth::Login(Credentials {
            user: user.to_string(),
            secret: password.trim_matches('\0').to_string(),
        }));
    }
    if !auth.registry_token.is_empty() {
        return Ok(RegistryAuth::Bearer(auth.registry_token.clone()));
    }
    Ok(RegistryAuth::None)
}

/// Whether `server_address` (`host[:port]`, optionally with a scheme and a
/// path) names registry `domain`; Docker Hub's host names are one.
fn same_registry(server_address: &str, domain: &str) -> bool {
    let rest = server_address
        .split_once("://")
        .map_or(server_address, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default();
    let hub = |h: &str| DOCKER_HUB_HOSTS.contains(&h);
    host == domain || (hub(host) && hub(domain))
}

/// The directory of `hosts.toml` files to resolve `domain` with, from
/// `config_path` (a `:`-separated list, as containerd's CRI splits it): the
/// first one that configures the host (the resolver's own lookup, `_default`
/// included), else the first one.
pub(crate) fn hosts_dir_for(config_path: &str, domain: &str) -> Option<std::path::PathBuf> {
    let roots: Vec<&std::path::Path> = config_path
        .split(':')
        .filter(|p| !p.is_empty())
        .map(std::path::Path::new)
        .collect();
    roots
        .iter()
        .find(|root| crated_remotes::hosts::host_dir(root, domain).is_ok_and(|d| d.is_some()))
        .or(roots.first())
        .map(|root| root.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_normalise_as_docker_names() {
        let r = normalize("busybox").map(|r| r.to_string()).ok();
        assert_eq!(r.as_deref(), Some("docker.io/library/busybox:latest"));
        let r = normalize("localhost:5000/a/b:1")
            .map(|r| r.to_string())
            .ok();
        assert_eq!(r.as_deref(), Some("localhost:5000/a/b:1"));
        let e = normalize("Busybox").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("failed to parse image reference")));
    }

    #[test]
    fn ids_and_their_prefixes() {
        assert!(is_image_id(ID));
        assert!(!is_image_id("busybox"));
        assert!(!is_image_id(&ID[7..]));
        assert!(id_matches(ID, ID));
        assert!(id_matches("sha256:0123", ID));
        assert!(id_matches("0123456789ab", ID));
        assert!(!id_matches("0124", ID));
        assert!(!id_matches("busybox", ID));
        assert!(!id_matches("", ID));
        assert!(!id_matches("sha256:", ID));
    }

    #[test]
    fn pulled_references_are_a_repo_digest_and_a_tag() {
        let named = normalize("busybox:1").unwrap_or_else(|e| panic!("{e}"));
        let (digest, tag) = repo_digest_and_tag(&named, ID);
        assert_eq!(digest, format!("docker.io/library/busybox@{ID}"));
        assert_eq!(tag.as_deref(), Some("docker.io/library/busybox:1"));
        let pinned = normalize(&format!("busybox@{ID}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(repo_digest_and_tag(&pinned, ID).1, None);
    }

    #[test]
    fn references_split_into_tags_and_digests() {
        let refs = vec![
            ID.to_string(),
            "docker.io/library/busybox:1".to_string(),
            format!("docker.io/library/busybox@{ID}"),
            "localhost:5000/untagged".to_string(),
        ];
        let (tags, digests) = split_references(&refs);
        assert_eq!(tags, vec!["docker.io/library/busybox:1".to_string()]);
        assert_eq!(digests, vec![format!("docker.io/library/busybox@{ID}")]);
    }

    #[test]
    fn image_users_are_uids_or_names() {
        assert_eq!(user_from_image(""), (None, String::new()));
        assert_eq!(user_from_image("1000"), (Some(1000), String::new()));
        assert_eq!(user_from_image("1000:50"), (Some(1000), String::new()));
        assert_eq!(user_from_image("nobody:nogroup"), (None, "nobody".into()));
    }

    fn basic(user: &str, secret: &str) -> RegistryAuth {
        RegistryAuth::Login(Credentials {
            user: user.into(),
            secret: secret.into(),
        })
    }

    #[test]
    fn auth_configs_give_credentials_as_containerd_reads_them() {
        let host = &["127.0.0.1:5000".to_string()];
        assert_eq!(parse_auth(None, host).ok(), Some(RegistryAuth::None));
        let plain = cri::AuthConfig {
            username: "alice".into(),
            password: "s3cret".into(),
            auth: base64::engine::general_purpose::STANDARD.encode("bob:x"),
            ..Default::default()
        };
        assert_eq!(
            parse_auth(Some(&plain), host).ok(),
            Some(basic("alice", "s3cret"))
        );
        let encoded = cri::AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("bob:pa:ss\0"),
            ..Default::default()
        };
        assert_eq!(
            parse_auth(Some(&encoded), host).ok(),
            Some(basic("bob", "pa:ss"))
        );
        let token = cri::AuthConfig {
            registry_token: "tok".into(),
            ..Default::default()
        };
        assert_eq!(
            parse_auth(Some(&token), host).ok(),
            Some(RegistryAuth::Bearer("tok".into()))
        );
        let bad = cri::AuthConfig {
            auth: "%%%".into(),
            ..Default::default()
        };
        assert!(matches!(
            parse_auth(Some(&bad), host),
            Err(Error::InvalidArgument(_))
        ));
        let no_colon = cri::AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("bob"),
            ..Default::default()
        };
        assert!(parse_auth(Some(&no_colon), host).is_err());
        let identity = cri::AuthConfig {
            identity_token: "refresh".into(),
            ..Default::default()
        };
        assert_eq!(
            parse_auth(Some(&identity), host).unwrap(),
            basic("", "refresh")
        );
    }

    #[test]
    fn auth_for_another_server_is_not_sent() {
        let auth = |server: &str| cri::AuthConfig {
            username: "alice".into(),
            password: "p".into(),
            server_address: server.into(),
            ..Default::default()
        };
        let host = &["r.example".to_string(), "127.0.0.1:5000".to_string()];
        assert_eq!(
            parse_auth(Some(&auth("http://127.0.0.1:5000")), host).ok(),
            Some(basic("alice", "p"))
        );
        assert_eq!(
            parse_auth(Some(&auth("127.0.0.1:5000")), host).ok(),
            Some(basic("alice", "p"))
        );
        assert_eq!(
            parse_auth(Some(&auth("https://other.example")), host).ok(),
            Some(RegistryAuth::None)
        );
        assert_eq!(
            parse_auth(
                Some(&auth("https://index.docker.io/v1/")),
                &["docker.io".into()]
            )
            .ok(),
            Some(basic("alice", "p"))
        );
    }

    #[test]
    fn hosts_dirs_are_chosen_per_registry() {
        let a = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let b = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let host = "127.0.0.1:5000";
        std::fs::create_dir_all(b.path().join(host)).unwrap_or_else(|e| panic!("{e}"));
        let c = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(c.path().join("_default")).unwrap_or_else(|e| panic!("{e}"));
        let fallback = format!("{}:{}", a.path().display(), c.path().display());
        assert_eq!(hosts_dir_for(&fallback, host).as_deref(), Some(c.path()));
        let list = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(hosts_dir_for(&list, host).as_deref(), Some(b.path()));
        assert_eq!(hosts_dir_for(&list, "other:1").as_deref(), Some(a.path()));
        assert_eq!(hosts_dir_for("", host), None);
    }
}
