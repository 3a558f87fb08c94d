//! Image references with Docker's normalisation, as containerd's
//! `reference/docker.ParseDockerRef` does it: `busybox` becomes
//! `docker.io/library/busybox:latest`.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use crated_core::{Error, Result};
use regex::Regex;

/// The registry a name without a domain belongs to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The old spelling of [`DEFAULT_DOMAIN`], rewritten to it.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag added to a reference that names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository name (domain and path) accepted.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The grammar of distribution's `reference` package: name, optional tag,
/// optional digest. Domains may be bracketed IPv6 addresses.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]*)";
    let component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let domain = format!("{host}(?::[0-9]+)?");
    let path = format!("{component}(?:/{component})*");
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    let pattern = format!("^(?:({domain})/)?({path})(?::({tag}))?(?:@({digest}))?$");
    // The pattern is built from constants; every test here compiles it.
    Regex::new(&pattern).unwrap_or_else(|e| unreachable!("reference grammar: {e}"))
});

/// A 64-hex-digit string, which Docker refuses as a repository name.
static IDENTIFIER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{64}$").unwrap_or_else(|e| unreachable!("{e}")));

/// A fully qualified image reference: `domain/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses `s` and normalises it the way Docker and containerd's CRI do:
    /// a missing domain is `docker.io`, a single-component Docker Hub name
    /// gets `library/`, a reference with neither tag nor digest gets
    /// `:latest`, and a reference with both keeps only the digest.
    ///
    /// A name's first component is a domain when it contains `.` or `:` or
    /// is `localhost`, so `localhost:5000/x` and `127.0.0.1:5000/x` name
    /// local registries while `library/busybox` is on Docker Hub.
    pub fn parse(s: &str) -> Result<Reference> {
        let invalid =
            |why: &str| Error::invalid_argument(format!("invalid reference {s:?}: {why}"));
        if s.is_empty() {
            return Err(invalid("repository name must have at least one component"));
        }
        if IDENTIFIER.is_match(s) {
            return Err(invalid(
                "cannot specify 64-byte hexadecimal strings as a repository name",
            ));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder
            .split_once([':', '@'])
            .map_or(remainder.as_str(), |(n, _)| n);
        if remote_name.to_ascii_lowercase() != remote_name {
            return Err(invalid("repository name must be lowercase"));
        }
        let full = format!("{domain}/{remainder}");
        let caps = REFERENCE
            .captures(&full)
            .ok_or_else(|| invalid("invalid reference format"))?;
        let group = |i| {
            caps.get(i)
                .map(|m: regex::Match<'_>| m.as_str().to_string())
        };
        let domain = group(1).ok_or_else(|| {
            invalid("the first component looks like a registry host but is not one")
        })?;
        let repository = group(2).unwrap_or_default();
        if domain.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(
                "repository name must not be more than 255 characters",
            ));
        }
        let digest = group(4);
        if let Some(digest) = &digest {
            crated_core::digest::validate(digest).map_err(|e| invalid(e.message()))?;
        }
        let tag = match (&digest, group(3)) {
            (Some(_), _) => None,
            (None, Some(tag)) => Some(tag),
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            domain,
            repository,
            tag,
            digest,
        })
    }

    /// The registry host as written in the reference, e.g. `docker.io` or
    /// `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (never together with a digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `domain/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.repository)
    }

    /// What the manifest endpoint is asked for: the digest if there is one,
    /// else the tag.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// This reference's name pinned to `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: &str) -> Result<Reference> {
        crated_core::digest::validate(digest)?;
        Ok(Reference {
            domain: self.domain.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

/// Splits `name` into its domain and the rest, supplying Docker Hub's
/// defaults (containerd's `splitDockerDomain`).
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
        {
            (first, rest.to_string())
        }
        _ => (DEFAULT_DOMAIN, name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"));
    }
    (domain, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
            ("ghcr.io/o/r:1.0-rc.1", "ghcr.io/o/r:1.0-rc.1"),
            ("[::1]:5000/x", "[::1]:5000/x:latest"),
            ("a_b__c-d/x", "docker.io/a_b__c-d/x:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn digests_win_over_tags() {
        let r = Reference::parse(&format!("busybox:1.36@{DIGEST}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{DIGEST}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(DIGEST));
        assert_eq!(r.object(), DIGEST);
        let r = Reference::parse(&format!("localhost:5000/x@{DIGEST}")).unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.repository(), "x");
    }

    #[test]
    fn parts() {
        let r = Reference::parse("registry.example.com:443/team/app:v2").unwrap();
        assert_eq!(r.domain(), "registry.example.com:443");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.name(), "registry.example.com:443/team/app");
        assert_eq!(r.object(), "v2");
        let pinned = r.with_digest(DIGEST).unwrap();
        assert_eq!(
            pinned.to_string(),
            format!("registry.example.com:443/team/app@{DIGEST}")
        );
        assert_eq!(
            "busybox".parse::<Reference>().unwrap().tag(),
            Some("latest")
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "docker.io/Library/busybox",
            ":tag",
            "busybox:",
            "busybox@sha256:abc",
            "busybox@sha256:ZZc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa",
            "a//b",
            "a_b.c/x",
            "-a/b",
            "busybox:-tag",
            &"a".repeat(64).replace('a', "f"),
            &format!("x.io/{}", "a".repeat(260)),
        ] {
            let err = Reference::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crated_core::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
