//! Platforms (`os/arch[/variant]`) normalised and matched the way
//! containerd's `platforms` package does.

use std::fmt;

use crated_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// A platform an image variant (or a plugin) is built for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// CPU variant, e.g. `v7`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_lowercase(), variant.to_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".into(),
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "aarch64" | "arm64" => (
            "arm64".into(),
            if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            },
        ),
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => match variant.as_str() {
            "" | "7" => ("arm".into(), "v7".into()),
            "5" | "6" | "8" => ("arm".into(), format!("v{variant}")),
            _ => ("arm".into(), variant),
        },
        _ => (arch, variant),
    }
}

impl Platform {
    /// The platform of this host.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            ..Default::default()
        }
        .normalized()
    }

    /// Parses `os[/arch[/variant]]` or `arch` alone (os defaults to linux).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let host = Platform::host();
        let p = match parts.as_slice() {
            [one] if *one == "linux" || *one == "windows" || *one == "darwin" => Platform {
                os: one.to_string(),
                architecture: host.architecture.clone(),
                ..Default::default()
            },
            [arch] if !arch.is_empty() => Platform {
                os: host.os.clone(),
                architecture: arch.to_string(),
                ..Default::default()
            },
            [os, arch] if !os.is_empty() && !arch.is_empty() => Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                ..Default::default()
            },
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() => Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: variant.to_string(),
                ..Default::default()
            },
            _ => {
                return Err(Error::invalid_argument(format!(
                    "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
                )));
            }
        };
        Ok(p.normalized())
    }

    /// The platform with containerd's normalisation applied.
    pub fn normalized(&self) -> Platform {
        let (architecture, variant) = normalize_arch(&self.architecture, &self.variant);
        Platform {
            os: self.os.to_lowercase(),
            architecture,
            variant,
            os_version: self.os_version.clone(),
        }
    }

    /// Whether an image built for `other` runs here: same OS and
    /// architecture, and for ARM a variant no newer than ours.
    pub fn matches(&self, other: &Platform) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        if a.os != b.os || a.architecture != b.architecture {
            return false;
        }
        if a.architecture == "arm" {
            let rank = |v: &str| v.trim_start_matches('v').parse::<u32>().unwrap_or(0);
            return rank(&b.variant) <= rank(&a.variant);
        }
        b.variant.is_empty() || a.variant.is_empty() || a.variant == b.variant
    }

    /// Preference among matches: an exact variant before older ones.
    pub fn rank(&self, other: &Platform) -> u32 {
        let (a, b) = (self.normalized(), other.normalized());
        if a == b {
            0
        } else if a.variant == b.variant {
            1
        } else {
            2
        }
    }
}

/// `os/architecture[/variant]` as containerd's `platforms.Format` writes
/// it: `unknown` for a platform without an OS.
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.os.is_empty() {
            return f.write_str("unknown");
        }
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_normalize() {
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/aarch64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(Platform::default().to_string(), "unknown");
    }

    #[test]
    fn arm_variants_match_downwards() {
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(!Platform::parse("linux/arm/v6").unwrap().matches(&v7));
        assert!(!v7.matches(&Platform::parse("linux/arm64").unwrap()));
        let amd = Platform::parse("linux/amd64").unwrap();
        assert!(amd.matches(&Platform::parse("linux/amd64").unwrap()));
        assert!(!amd.matches(&Platform::parse("windows/amd64").unwrap()));
    }
}
