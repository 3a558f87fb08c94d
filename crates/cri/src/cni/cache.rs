//! ADD results cached per sandbox: `<cache_dir>/<sandbox>/<ifname>.json`,
//! each with the network list used, so DEL after a restart or a config
//! change detaches exactly what ADD attached.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::NetworkList;
use crate::error::{Error, Result};

/// One cached attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The interface name in the pod.
    pub ifname: String,
    /// Setup order (loopback is 0).
    pub order: usize,
    /// The network list as it was at ADD.
    pub config: Value,
    /// The ADD chain's final result.
    pub result: Value,
}

impl Entry {
    /// An entry for `network` attached as `ifname`.
    pub fn new(network: &NetworkList, ifname: &str, result: Value) -> Entry {
        let order = if ifname == "lo" {
            0
        } else {
            ifname
                .trim_start_matches("eth")
                .parse::<usize>()
                .map_or(usize::MAX, |i| i + 1)
        };
        Entry {
            ifname: ifname.to_string(),
            order,
            config: network.raw.clone(),
            result,
        }
    }

    /// The network list recorded at ADD.
    pub fn network(&self) -> Result<NetworkList> {
        NetworkList::from_list_value(Path::new("(cached CNI config)"), self.config.clone())
    }
}

/// Sandbox ids become directory names: they must be plain.
pub fn validate_id(id: &str) -> Result<()> {
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && id != "."
        && id != "..";
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "sandbox id {id:?} is invalid: use letters, digits, '-', '_' or '.'"
        )))
    }
}

fn sandbox_dir(dir: &Path, sandbox: &str) -> PathBuf {
    dir.join(sandbox)
}

/// Whether anything was cached for `sandbox`.
pub fn exists(dir: &Path, sandbox: &str) -> bool {
    sandbox_dir(dir, sandbox).is_dir()
}

/// Records `entry` (written to a temporary file and renamed).
pub fn store(dir: &Path, sandbox: &str, entry: &Entry) -> Result<()> {
    let sdir = sandbox_dir(dir, sandbox);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&sdir)
        .map_err(|source| Error::Io {
            what: "creating CNI result cache",
            path: sdir.clone(),
            source,
        })?;
    let path = sdir.join(format!("{}.json", entry.ifname));
    let tmp = sdir.join(format!(".{}.json.tmp", entry.ifname));
    let bytes = serde_json::to_vec(entry)
        .map_err(|e| Error::InvalidArgument(format!("encoding CNI cache entry: {e}")))?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| Error::Io {
            what: "writing CNI result cache",
            path,
            source,
        })
}

/// Every cached attachment of `sandbox` (none when nothing was cached).
/// A corrupt entry is an error naming it.
pub fn load_all(dir: &Path, sandbox: &str) -> Result<Vec<Entry>> {
    let sdir = sandbox_dir(dir, sandbox);
    let read = match std::fs::read_dir(&sdir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: "reading CNI result cache",
                path: sdir,
                source,
            });
        }
    };
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(|source| Error::Io {
            what: "reading CNI result cache",
            path: sdir.clone(),
            source,
        })?;
        let path = item.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            what: "reading CNI result cache",
            path: path.clone(),
            source,
        })?;
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
            path: path.clone(),
            reason: format!(
                "corrupt CNI cache entry ({e}); remove it to tear down with today's config"
            ),
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Forgets one attachment.
pub fn remove(dir: &Path, sandbox: &str, ifname: &str) -> Result<()> {
    let path = sandbox_dir(dir, sandbox).join(format!("{ifname}.json"));
    forget(std::fs::remove_file(&path), path)
}

/// Forgets the sandbox.
pub fn remove_sandbox(dir: &Path, sandbox: &str) -> Result<()> {
    let path = sandbox_dir(dir, sandbox);
    forget(std::fs::remove_dir_all(&path), path)
}

/// A removal that found nothing to remove succeeded.
fn forget(removed: std::io::Result<()>, path: PathBuf) -> Result<()> {
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            what: "removing CNI result cache",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", "..", "a/b", "a b", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        validate_id("0123abcdef-pod_1.x").unwrap();
    }

    #[test]
    fn entries_round_trip_and_removal_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry::new(
            &NetworkList::loopback(),
            "lo",
            serde_json::json!({"ips":[]}),
        );
        store(dir.path(), "s1", &entry).unwrap();
        let eth = Entry::new(&NetworkList::loopback(), "eth1", Value::Null);
        assert_eq!(eth.order, 2);
        let all = load_all(dir.path(), "s1").unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].network().unwrap().name, "cni-loopback");
        remove(dir.path(), "s1", "lo").unwrap();
        remove(dir.path(), "s1", "lo").unwrap();
        remove_sandbox(dir.path(), "s1").unwrap();
        remove_sandbox(dir.path(), "s1").unwrap();
        assert!(!exists(dir.path(), "s1"));
    }
}
