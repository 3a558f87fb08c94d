//! Mounts and environment the way containerd builds them: the default
//! mounts, `ctr run --mount` parsing and `replaceOrAppendEnvValues`.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::Mount;

use crate::error::{Error, Result};
use crate::state::mount;

/// containerd's default mounts (`oci.defaultMounts`), with the read-only
/// cgroup filesystem containerd 1.7 and later add.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/run",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
    ]
}

/// containerd's `replaceOrAppendEnvValues`: `overrides` replace entries of
/// `defaults` with the same key or are appended; a bare `KEY` removes it.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let mut results: Vec<Option<String>> = defaults.iter().cloned().map(Some).collect();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, entry) in defaults.iter().enumerate() {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        index.insert(key.to_string(), i);
    }
    for value in overrides {
        match value.split_once('=') {
            None => {
                if let Some(&i) = index.get(value) {
                    results[i] = None;
                }
            }
            Some((key, _)) => match index.get(key) {
                Some(&i) => results[i] = Some(value.clone()),
                None => {
                    index.insert(key.to_string(), results.len());
                    results.push(Some(value.clone()));
                }
            },
        }
    }
    results.into_iter().flatten().collect()
}

/// Parses a mount as `ctr run --mount` takes it: comma-separated
/// `type=`, `source=`/`src=`, `destination=`/`dst=` and `options=` (options
/// separated by `:`), e.g. `type=bind,src=/tmp,dst=/host,options=rbind:ro`.
pub fn parse_mount(text: &str) -> Result<Mount> {
    let mut mount = Mount::default();
    let mut destination = None;
    for field in csv_fields(text) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(Error::InvalidArgument(format!(
                "invalid mount specification {text:?}: expected key=val (e.g. type=bind,src=/tmp,dst=/host,options=rbind:ro)"
            )));
        };
        match key {
            "type" => {
                mount.set_typ(Some(value.to_string()));
            }
            "source" | "src" => {
                mount.set_source(Some(PathBuf::from(value)));
            }
            "destination" | "dst" => destination = Some(PathBuf::from(value)),
            "options" => {
                mount.set_options(Some(value.split(':').map(String::from).collect()));
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "mount option {key:?} not supported (use type, src, dst, options)"
                )));
            }
        }
    }
    let Some(destination) = destination else {
        return Err(Error::InvalidArgument(format!(
            "invalid mount specification {text:?}: dst= is required"
        )));
    };
    mount.set_destination(destination);
    Ok(mount)
}

/// Splits one CSV record (Go's `encoding/csv` for a single line): commas
/// separate fields, double quotes protect commas, `""` is a quote.
fn csv_fields(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}
