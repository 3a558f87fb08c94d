//! A container's cgroup: where it is (v1 per controller, or v2 unified),
//! its metrics as containerd's `io.containerd.cgroups.v1.Metrics` /
//! `io.containerd.cgroups.v2.Metrics`, and OOM notifications.
//!
//! The host may be hybrid (v1 controllers with an empty v2 hierarchy at
//! `/sys/fs/cgroup/unified`); that is v1 here, as containerd reads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_error};

pub mod oom;
mod stats_v1;
mod stats_v2;

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// A process's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1: the directory of each controller.
    V1(HashMap<String, PathBuf>),
    /// cgroup v2: the unified directory.
    V2(PathBuf),
}

/// Whether the host runs the unified (v2-only) hierarchy.
pub fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

impl Cgroup {
    /// The cgroup of `pid`, from `/proc/<pid>/cgroup`.
    pub fn of_pid(pid: u32) -> Result<Cgroup> {
        let path = format!("/proc/{pid}/cgroup");
        let text =
            std::fs::read_to_string(&path).map_err(|e| io_error(format!("reading {path}"), e))?;
        Ok(Self::parse(&text, Path::new(ROOT), unified()))
    }

    /// Parses `/proc/<pid>/cgroup` content for hierarchies under `root`.
    fn parse(text: &str, root: &Path, unified: bool) -> Cgroup {
        let mut v1 = HashMap::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if controllers.is_empty() {
                if unified {
                    return Cgroup::V2(root.join(rel));
                }
                continue;
            }
            if controllers.starts_with("name=") {
                continue;
            }
            // Joint hierarchies (`cpu,cpuacct`) are mounted under the joint
            // name; Debian adds per-controller symlinks.
            let mut dir = root.join(controllers);
            if !dir.exists() {
                dir = root.join(controllers.split(',').next().unwrap_or(controllers));
            }
            for c in controllers.split(',') {
                v1.insert(c.to_string(), dir.join(rel));
            }
        }
        Cgroup::V1(v1)
    }

    /// The metrics as a type URL and protobuf bytes.
    pub fn metrics(&self) -> Result<(&'static str, Vec<u8>)> {
        use crated_api::ttrpc::protobuf::Message;
        let encode = |r: crated_api::ttrpc::protobuf::Result<Vec<u8>>| {
            r.map_err(|e| {
                Error::with_source(
                    crated_core::ErrorKind::Internal,
                    "encoding cgroup metrics",
                    e,
                )
            })
        };
        match self {
            Cgroup::V1(dirs) => {
                let m = stats_v1::metrics(dirs)?;
                Ok((
                    "io.containerd.cgroups.v1.Metrics",
                    encode(m.write_to_bytes())?,
                ))
            }
            Cgroup::V2(dir) => {
                let m = stats_v2::metrics(dir)?;
                Ok((
                    "io.containerd.cgroups.v2.Metrics",
                    encode(m.write_to_bytes())?,
                ))
            }
        }
    }
}

/// Reads a file holding one number; `max` is 0 (no limit) as in containerd.
fn read_u64(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim();
    if t == "max" {
        return Some(0);
    }
    t.parse().ok()
}

/// Reads `key value` lines.
fn read_kv(path: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_string(), v.trim().parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `/dev` name of block device `major:minor`, if the kernel names one.
fn device_name(major: u64, minor: u64) -> String {
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(|n| format!("/dev/{n}")))
        })
        .unwrap_or_default()
}

/// The huge page sizes of the host as cgroup files name them (`2MB`, `1GB`).
fn huge_page_sizes() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = dir
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect();
    sizes.sort();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_v1_and_unified_v2() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cpu,cpuacct")).unwrap();
        let text = "12:memory:/default/c1\n3:cpu,cpuacct:/default/c1\n1:name=systemd:/x\n0::/\n";
        let Cgroup::V1(m) = Cgroup::parse(text, dir.path(), false) else {
            panic!("not v1");
        };
        assert_eq!(m["memory"], dir.path().join("memory/default/c1"));
        assert_eq!(m["cpuacct"], dir.path().join("cpu,cpuacct/default/c1"));
        assert!(!m.contains_key("name=systemd"));
        assert_eq!(
            Cgroup::parse("0::/default/c1\n", dir.path(), true),
            Cgroup::V2(dir.path().join("default/c1"))
        );
    }

    #[test]
    fn numbers_and_key_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("max"), "max\n").unwrap();
        std::fs::write(dir.path().join("n"), "42\n").unwrap();
        std::fs::write(dir.path().join("kv"), "a 1\nb 2\nbad\n").unwrap();
        assert_eq!(read_u64(&dir.path().join("max")), Some(0));
        assert_eq!(read_u64(&dir.path().join("n")), Some(42));
        assert_eq!(read_u64(&dir.path().join("none")), None);
        assert_eq!(
            read_kv(&dir.path().join("kv")),
            vec![("a".into(), 1), ("b".into(), 2)]
        );
    }
}
