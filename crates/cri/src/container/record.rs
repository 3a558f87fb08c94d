//! A CRI container as the plugin keeps it: its metadata (stored in the
//! container record's `io.cri-containerd.container.metadata` extension,
//! so it survives a restart) and its status (state, pid, timestamps,
//! exit code and reason), kept as a small JSON file so the exit seen
//! before a restart is still reported after it.

use std::path::Path;

use crated_api::cri::{self, ContainerConfig, ContainerState};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The extension name containerd's CRI stores its container metadata under.
pub const METADATA_EXTENSION: &str = "io.cri-containerd.container.metadata";
/// The type URL of the metadata extension's JSON.
pub const METADATA_TYPE_URL: &str = "github.com/containerd/cri/pkg/store/container/Metadata";

/// What the plugin knows about a container from its creation on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// The container id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The unique name (`store::container_name`).
    pub name: String,
    /// The sandbox the container is in.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// The CRI config it was created with (JSON of the message's fields).
    pub config: serde_json::Value,
    /// The image id (`sha256:` of its config).
    pub image_ref: String,
    /// The log file, absolute.
    pub log_path: String,
    /// The image's stop signal (empty: SIGTERM).
    pub stop_signal: String,
}

/// The versioned envelope containerd writes (`{"Version":"v1","Metadata":…}`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Versioned {
    version: String,
    metadata: Metadata,
}

impl Metadata {
    /// The extension's bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&Versioned {
            version: "v1".into(),
            metadata: self.clone(),
        })
        .map_err(|e| {
            Error::InvalidArgument(format!("encoding container {} metadata: {e}", self.id))
        })
    }

    /// Reads the extension's bytes; other versions are refused.
    pub fn decode(bytes: &[u8]) -> Result<Metadata> {
        let v: Versioned = serde_json::from_slice(bytes).map_err(|e| {
            Error::InvalidArgument(format!("unreadable CRI container metadata: {e}"))
        })?;
        if v.version != "v1" {
            return Err(Error::InvalidArgument(format!(
                "CRI container metadata version {:?} is not supported (v1 is)",
                v.version
            )));
        }
        Ok(v.metadata)
    }
}

/// A container config as JSON for [`Metadata::config`]: the fields the
/// plugin needs again later (labels, annotations, image, mounts, log path,
/// tty, metadata), named as the message's.
pub fn config_json(config: &ContainerConfig) -> serde_json::Value {
    let mounts: Vec<serde_json::Value> = config
        .mounts
        .iter()
        .map(|m| {
            serde_json::json!({
                "container_path": m.container_path, "host_path": m.host_path,
                "readonly": m.readonly, "selinux_relabel": m.selinux_relabel,
                "propagation": m.propagation,
            })
        })
        .collect();
    serde_json::json!({
        "metadata": config.metadata.as_ref().map(|m| serde_json::json!({"name": m.name, "attempt": m.attempt})),
        "image": config.image.as_ref().map(|i| i.image.clone()),
        "labels": config.labels,
        "annotations": config.annotations,
        "log_path": config.log_path,
        "tty": config.tty,
        "stdin": config.stdin,
        "stdin_once": config.stdin_once,
        "mounts": mounts,
    })
}

/// The parts of a stored config [`config_json`] kept.
pub fn config_from_json(v: &serde_json::Value) -> ContainerConfig {
    let map = |k: &str| -> std::collections::HashMap<String, String> {
        serde_json::from_value(v[k].clone()).unwrap_or_default()
    };
    let mounts = v["mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| cri::Mount {
                    container_path: m["container_path"].as_str().unwrap_or_default().into(),
                    host_path: m["host_path"].as_str().unwrap_or_default().into(),
                    readonly: m["readonly"].as_bool().unwrap_or(false),
                    selinux_relabel: m["selinux_relabel"].as_bool().unwrap_or(false),
                    propagation: m["propagation"]
                        .as_i64()
                        .and_then(|p| i32::try_from(p).ok())
                        .unwrap_or(0),
                    ..cri::Mount::default()
                })
                .collect()
        })
        .unwrap_or_default();
    ContainerConfig {
        metadata: v["metadata"].as_object().map(|m| cri::ContainerMetadata {
            name: m
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .into(),
            attempt: m
                .get("attempt")
                .and_then(|n| n.as_u64())
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        }),
        image: v["image"].as_str().map(|i| cri::ImageSpec {
            image: i.into(),
            ..cri::ImageSpec::default()
        }),
        labels: map("labels"),
        annotations: map("annotations"),
        log_path: v["log_path"].as_str().unwrap_or_default().into(),
        tty: v["tty"].as_bool().unwrap_or(false),
        stdin: v["stdin"].as_bool().unwrap_or(false),
        stdin_once: v["stdin_once"].as_bool().unwrap_or(false),
        mounts,
        ..ContainerConfig::default()
    }
}

/// Where a container is in its life, with its timestamps (Unix nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The init process's pid once started.
    pub pid: u32,
    /// Created.
    pub created_at: i64,
    /// Started (0: not yet).
    pub started_at: i64,
    /// Exited (0: not yet).
    pub finished_at: i64,
    /// The exit code once exited.
    pub exit_code: i32,
    /// Why it exited: `Completed`, `Error`, `OOMKilled`, or a start failure.
    pub reason: String,
    /// A longer explanation.
    pub message: String,
    /// Being removed: no more starts.
    pub removing: bool,
    /// The state could not be found out (the task vanished unseen).
    pub unknown: bool,
}

impl Status {
    /// The CRI state of this status.
    pub fn state(&self) -> ContainerState {
        if self.unknown {
            ContainerState::ContainerUnknown
        } else if self.finished_at != 0 {
            ContainerState::ContainerExited
        } else if self.started_at != 0 {
            ContainerState::ContainerRunning
        } else {
            ContainerState::ContainerCreated
        }
    }

    /// Records the init process's exit at `at` (Unix ns); `oom` when the
    /// kernel's OOM killer ended it (an OOM event was seen for it).
    pub fn exited(&mut self, code: i32, at: i64, oom: bool) {
        self.pid = 0;
        self.finished_at = at;
        self.exit_code = code;
        if self.reason.is_empty() {
            self.reason = if oom {
                "OOMKilled"
            } else if code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .into();
        }
    }

    /// Reads the status file at `path`.
    pub fn load(path: &Path) -> Result<Status> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            what: "reading the container status",
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidArgument(format!(
                "container status {} is unreadable: {e}",
                path.display()
            ))
        })
    }

    /// Writes the status file at `path` (whole, through a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |what: &'static str, p: &Path| {
            let path = p.to_path_buf();
            move |source| Error::Io { what, path, source }
        };
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::InvalidArgument(format!("encoding the container status: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        }
        std::fs::write(&tmp, bytes).map_err(io("writing the container status", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("replacing the container status", path))
    }
}

/// The signal number of a stop signal as images name it (`SIGTERM`,
/// `TERM`, `15`, `SIGRTMIN+3`); empty is SIGTERM.
pub fn parse_signal(text: &str) -> Result<i32> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(nix::sys::signal::Signal::SIGTERM as i32);
    }
    if let Ok(n) = text.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        let offset = if rest.is_empty() {
            Some(0)
        } else {
            rest.strip_prefix('+').and_then(|n| n.parse::<i32>().ok())
        };
        let min = RTMIN;
        if let Some(off) = offset.filter(|o| min + o <= 64) {
            return Ok(min + off);
        }
    }
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| {
            Error::InvalidArgument(format!(
                "unknown stop signal {text:?}: use a name like SIGTERM or a number"
            ))
        })
}

/// The first real-time signal as glibc and musl number it for programs
/// (the kernel's 32 plus the two the C library keeps for itself).
const RTMIN: i32 = 34;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_in_containerds_envelope() {
        let meta = Metadata {
            id: "c1".into(),
            name: "app_web_default_uid_0".into(),
            sandbox_id: "sb".into(),
            config: config_json(&ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: "app".into(),
                    attempt: 2,
                }),
                log_path: "app/0.log".into(),
                labels: [("a".to_string(), "b".to_string())].into(),
                ..ContainerConfig::default()
            }),
            image_ref: "sha256:abc".into(),
            log_path: "/var/log/pods/x/app/0.log".into(),
            stop_signal: "SIGQUIT".into(),
        };
        let bytes = meta.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"Version":"v1","Metadata":{"ID":"c1""#),
            "{text}"
        );
        let back = Metadata::decode(&bytes).unwrap();
        assert_eq!(back, meta);
        let config = config_from_json(&back.config);
        assert_eq!(config.metadata.unwrap().attempt, 2);
        assert_eq!(config.labels["a"], "b");
        assert!(Metadata::decode(br#"{"Version":"v2","Metadata":{}}"#).is_err());
    }

    #[test]
    fn status_states_and_exit_reasons() {
        let mut s = Status {
            created_at: 1,
            ..Status::default()
        };
        assert_eq!(s.state(), ContainerState::ContainerCreated);
        s.started_at = 2;
        s.pid = 7;
        assert_eq!(s.state(), ContainerState::ContainerRunning);
        let mut ok = s.clone();
        ok.exited(0, 3, false);
        assert_eq!(
            (ok.state(), ok.reason.as_str(), ok.pid),
            (ContainerState::ContainerExited, "Completed", 0)
        );
        let mut err = s.clone();
        err.exited(3, 3, false);
        assert_eq!((err.exit_code, err.reason.as_str()), (3, "Error"));
        let mut oom = s.clone();
        oom.exited(137, 3, true);
        assert_eq!(oom.reason, "OOMKilled");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c1/status");
        oom.save(&path).unwrap();
        assert_eq!(Status::load(&path).unwrap(), oom);
    }

    #[test]
    fn stop_signals_by_name_number_and_realtime() {
        assert_eq!(parse_signal("").unwrap(), 15);
        assert_eq!(parse_signal("SIGQUIT").unwrap(), 3);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), 37);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
