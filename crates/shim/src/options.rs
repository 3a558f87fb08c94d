//! The runc shim's option messages (`containerd.runc.v1.*`), decoded and
//! encoded by hand: they are small, and the generated protos we depend on do
//! not carry them.

use std::path::{Path, PathBuf};

use crated_api::ttrpc::protobuf::{self, CodedInputStream, CodedOutputStream};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_error};

/// Type URL of the runtime options containerd passes runc-like shims.
pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
/// Type URL of checkpoint options.
pub const CHECKPOINT_OPTIONS: &str = "containerd.runc.v1.CheckpointOptions";
/// Type URL of the per-process detail in `Pids` replies.
pub const PROCESS_DETAILS: &str = "containerd.runc.v1.ProcessDetails";
/// The name of the file in the bundle holding the options as JSON, as the
/// Go shim writes it.
pub const OPTIONS_FILE: &str = "options.json";
/// The directory, under the daemon's state directory, that holds the
/// runtime v2 bundles (`<state>/io.containerd.runtime.v2.task/<ns>/<id>`).
pub const TASK_STATE_DIR: &str = "io.containerd.runtime.v2.task";
/// The OCI runtime's state root next to [`TASK_STATE_DIR`] when the runtime
/// options name none: `<state>/runc/<ns>`, so each daemon's containers live
/// under its own state directory and two daemons on one host never see each
/// other's containers.
pub const RUNTIME_ROOT_DIR: &str = "runc";
/// The OCI runtime's state root for a bundle outside a daemon's
/// `<state>/io.containerd.runtime.v2.task` layout: a sibling of the bundle
/// (a dot name, which no container id can take).
pub const LOOSE_RUNTIME_ROOT_DIR: &str = ".runc";

/// `containerd.runc.v1.Options`: which OCI runtime binary and how to run it.
/// The JSON field names are the Go shim's, so either shim's `delete` reads
/// the other's `options.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuncOptions {
    /// Do not use pivot_root to jail the container (field 1).
    #[serde(skip_serializing_if = "is_false")]
    pub no_pivot_root: bool,
    /// Do not create a new session keyring (2).
    #[serde(skip_serializing_if = "is_false")]
    pub no_new_keyring: bool,
    /// The cgroup the shim itself joins (3).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub shim_cgroup: String,
    /// Owner of the IO pipes (4).
    #[serde(skip_serializing_if = "is_zero")]
    pub io_uid: u32,
    /// Group of the IO pipes (5).
    #[serde(skip_serializing_if = "is_zero")]
    pub io_gid: u32,
    /// The OCI runtime binary, `runc` when empty (6).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary_name: String,
    /// The runtime's state root (7).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root: String,
    /// Path of criu (8, deprecated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub criu_path: String,
    /// Use the systemd cgroup driver (9).
    #[serde(skip_serializing_if = "is_false")]
    pub systemd_cgroup: bool,
    /// Where checkpoint images go (10).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub criu_image_path: String,
    /// criu's work directory (11).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub criu_work_path: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RuncOptions {
    /// Decodes the protobuf encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut o = RuncOptions::default();
        decode_fields(bytes, RUNC_OPTIONS, |field, is| {
            match field {
                1 => o.no_pivot_root = is.read_bool()?,
                2 => o.no_new_keyring = is.read_bool()?,
                3 => o.shim_cgroup = is.read_string()?,
                4 => o.io_uid = is.read_uint32()?,
                5 => o.io_gid = is.read_uint32()?,
                6 => o.binary_name = is.read_string()?,
                7 => o.root = is.read_string()?,
                8 => o.criu_path = is.read_string()?,
                9 => o.systemd_cgroup = is.read_bool()?,
                10 => o.criu_image_path = is.read_string()?,
                11 => o.criu_work_path = is.read_string()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(o)
    }

    /// Options from an `Any`: decoded when it is `containerd.runc.v1.Options`
    /// (under any type URL prefix), defaults for no options or another type
    /// (e.g. `runtimeoptions.v1.Options`, which carries nothing for us).
    pub fn from_any(type_url: &str, value: &[u8]) -> Result<Self> {
        if type_name(type_url) == RUNC_OPTIONS {
            Self::decode(value)
        } else {
            Ok(Self::default())
        }
    }

    /// The OCI runtime binary to run.
    pub fn binary(&self) -> &str {
        if self.binary_name.is_empty() {
            "runc"
        } else {
            &self.binary_name
        }
    }

    /// The OCI runtime's state root for the containers of `namespace`
    /// whose bundle is `bundle`: the options' `root` when given, else one
    /// under the state directory of the daemon that made the bundle
    /// (`<state>/runc/<namespace>`), never another daemon's (containerd's
    /// Go shim uses `/run/containerd/runc` whatever its daemon's state).
    pub fn runtime_root(&self, bundle: &Path, namespace: &str) -> PathBuf {
        if !self.root.is_empty() {
            return Path::new(&self.root).join(namespace);
        }
        let ns_dir = bundle.parent();
        let task_dir = ns_dir.and_then(Path::parent);
        match (ns_dir, task_dir) {
            (_, Some(task_dir)) if task_dir.file_name().is_some_and(|n| n == TASK_STATE_DIR) => {
                let state = task_dir.parent().unwrap_or(task_dir);
                state.join(RUNTIME_ROOT_DIR).join(namespace)
            }
            (Some(parent), _) => parent.join(LOOSE_RUNTIME_ROOT_DIR).join(namespace),
            (None, _) => bundle.join(LOOSE_RUNTIME_ROOT_DIR).join(namespace),
        }
    }

    /// Writes `options.json` and `runtime` into `bundle`, as the Go shim does.
    pub fn save(&self, bundle: &Path) -> Result<()> {
        let json = serde_json::to_vec(self).map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::Internal,
                "encoding runtime options",
                e,
            )
        })?;
        let path = bundle.join(OPTIONS_FILE);
        std::fs::write(&path, json)
            .map_err(|e| io_error(format!("writing {}", path.display()), e))?;
        let path = bundle.join("runtime");
        std::fs::write(&path, &self.binary_name)
            .map_err(|e| io_error(format!("writing {}", path.display()), e))
    }

    /// Reads `options.json` from `bundle`; defaults when there is none.
    pub fn load(bundle: &Path) -> Result<Self> {
        let path = bundle.join(OPTIONS_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| {
                Error::with_source(
                    crated_core::ErrorKind::InvalidArgument,
                    format_args!("parsing {}", path.display()),
                    e,
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io_error(format!("reading {}", path.display()), e)),
        }
    }
}

/// `containerd.runc.v1.CheckpointOptions`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// Stop the container after checkpointing (1).
    pub exit: bool,
    /// Checkpoint open TCP connections (2).
    pub open_tcp: bool,
    /// Checkpoint external unix sockets (3).
    pub external_unix_sockets: bool,
    /// Checkpoint terminals (4).
    pub terminal: bool,
    /// Checkpoint file locks (5).
    pub file_locks: bool,
    /// Namespaces to leave empty (6).
    pub empty_namespaces: Vec<String>,
    /// criu's cgroups mode (7).
    pub cgroups_mode: String,
    /// Where the image goes (8).
    pub image_path: String,
    /// criu's work directory (9).
    pub work_path: String,
}

impl CheckpointOptions {
    /// Options from an `Any`; defaults when it carries another type.
    pub fn from_any(type_url: &str, value: &[u8]) -> Result<Self> {
        let mut o = CheckpointOptions::default();
        if type_name(type_url) != CHECKPOINT_OPTIONS {
            return Ok(o);
        }
        decode_fields(value, CHECKPOINT_OPTIONS, |field, is| {
            match field {
                1 => o.exit = is.read_bool()?,
                2 => o.open_tcp = is.read_bool()?,
                3 => o.external_unix_sockets = is.read_bool()?,
                4 => o.terminal = is.read_bool()?,
                5 => o.file_locks = is.read_bool()?,
                6 => o.empty_namespaces.push(is.read_string()?),
                7 => o.cgroups_mode = is.read_string()?,
                8 => o.image_path = is.read_string()?,
                9 => o.work_path = is.read_string()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(o)
    }
}

/// Encodes `containerd.runc.v1.ProcessDetails { exec_id }`.
pub fn process_details(exec_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(exec_id.len() + 2);
    let mut os = CodedOutputStream::vec(&mut out);
    // Writing to a Vec cannot fail.
    let _ = os.write_string(1, exec_id);
    let _ = os.flush();
    drop(os);
    out
}

/// The message name in a type URL, without any `host/` prefix.
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// Walks the fields of a message; `read` consumes known fields and returns
/// false for unknown ones, which are skipped.
fn decode_fields(
    bytes: &[u8],
    what: &str,
    mut read: impl FnMut(u32, &mut CodedInputStream) -> protobuf::Result<bool>,
) -> Result<()> {
    let mut is = CodedInputStream::from_bytes(bytes);
    let mut step = || -> protobuf::Result<()> {
        while let Some(tag) = is.read_raw_tag_or_eof()? {
            if !read(tag >> 3, &mut is)? {
                protobuf::rt::skip_field_for_tag(tag, &mut is)?;
            }
        }
        Ok(())
    };
    step().map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            format_args!("decoding {what}"),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(f: impl FnOnce(&mut CodedOutputStream)) -> Vec<u8> {
        let mut v = Vec::new();
        let mut os = CodedOutputStream::vec(&mut v);
        f(&mut os);
        os.flush().unwrap();
        drop(os);
        v
    }

    #[test]
    fn decodes_binary_name_and_skips_unknown_fields() {
        let bytes = encode(|os| {
            os.write_bool(1, true).unwrap();
            os.write_string(6, "crun").unwrap();
            os.write_string(99, "future").unwrap();
            os.write_string(7, "/run/r").unwrap();
        });
        let o = RuncOptions::from_any("containerd.runc.v1.Options", &bytes).unwrap();
        assert!(o.no_pivot_root);
        assert_eq!(o.binary(), "crun");
        assert_eq!(
            o.runtime_root(Path::new("/any/bundle"), "ns"),
            Path::new("/run/r/ns")
        );
    }

    #[test]
    fn other_types_and_empty_give_defaults() {
        let o = RuncOptions::from_any("runtimeoptions.v1.Options", b"\x0a\x01x").unwrap();
        assert_eq!(o.binary(), "runc");
        assert_eq!(o.root, "");
    }

    #[test]
    fn default_runtime_root_is_under_the_daemons_state() {
        let o = RuncOptions::default();
        let bundle = Path::new("/run/crated/io.containerd.runtime.v2.task/ns1/c1");
        assert_eq!(
            o.runtime_root(bundle, "ns1"),
            Path::new("/run/crated/runc/ns1")
        );
        let other = Path::new("/tmp/x/state/io.containerd.runtime.v2.task/ns1/c1");
        assert_eq!(
            o.runtime_root(other, "ns1"),
            Path::new("/tmp/x/state/runc/ns1")
        );
        assert_eq!(
            o.runtime_root(Path::new("/tmp/b/c1"), "ns1"),
            Path::new("/tmp/b/.runc/ns1")
        );
        assert!(!o.runtime_root(bundle, "ns1").starts_with("/run/containerd"));
    }

    #[test]
    fn garbage_is_invalid_argument() {
        let e = RuncOptions::decode(b"\x32\x10ab").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
    }

    #[test]
    fn json_round_trip_uses_go_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let o = RuncOptions {
            binary_name: "crun".into(),
            ..Default::default()
        };
        o.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(OPTIONS_FILE)).unwrap();
        assert_eq!(text, r#"{"binary_name":"crun"}"#);
        assert_eq!(RuncOptions::load(dir.path()).unwrap(), o);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("runtime")).unwrap(),
            "crun"
        );
    }

    #[test]
    fn checkpoint_options_and_process_details() {
        let bytes = encode(|os| {
            os.write_bool(1, true).unwrap();
            os.write_string(6, "network").unwrap();
            os.write_string(8, "/img").unwrap();
        });
        let o = CheckpointOptions::from_any(
            "type.googleapis.com/containerd.runc.v1.CheckpointOptions",
            &bytes,
        )
        .unwrap();
        assert!(o.exit);
        assert_eq!(o.empty_namespaces, vec!["network"]);
        assert_eq!(o.image_path, "/img");
        assert_eq!(process_details("e1"), b"\x0a\x02e1");
    }
}
