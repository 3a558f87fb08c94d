//! Runtime options a container record carries for its shim: runc's
//! `containerd.runc.v1.Options` and the generic `runtimeoptions.v1.Options`.
//!
//! These two small messages are not in the API crates; they are declared
//! here with prost, field numbers as in containerd's `.proto` files.

use prost::Message;
use prost_types::Any;

/// The default runtime, as containerd names it.
pub const DEFAULT_RUNTIME: &str = "io.containerd.runc.v2";
/// Type URL of [`RuncOptions`].
pub const RUNC_OPTIONS_TYPE_URL: &str = "containerd.runc.v1.Options";
/// Type URL of [`RuntimeOptions`].
pub const RUNTIME_OPTIONS_TYPE_URL: &str = "runtimeoptions.v1.Options";
/// Type URL of [`ProcessDetails`].
pub const PROCESS_DETAILS_TYPE_URL: &str = "containerd.runc.v1.ProcessDetails";

/// `containerd.runc.v1.Options`: how the runc shim runs runc.
#[derive(Clone, PartialEq, Message)]
pub struct RuncOptions {
    /// Disable pivot_root.
    #[prost(bool, tag = "1")]
    pub no_pivot_root: bool,
    /// Do not create a new session keyring.
    #[prost(bool, tag = "2")]
    pub no_new_keyring: bool,
    /// The cgroup to put the shim in.
    #[prost(string, tag = "3")]
    pub shim_cgroup: String,
    /// Owner uid of the IO pipes.
    #[prost(uint32, tag = "4")]
    pub io_uid: u32,
    /// Owner gid of the IO pipes.
    #[prost(uint32, tag = "5")]
    pub io_gid: u32,
    /// The runc binary, e.g. `crun`.
    #[prost(string, tag = "6")]
    pub binary_name: String,
    /// runc's state root.
    #[prost(string, tag = "7")]
    pub root: String,
    /// Use the systemd cgroup driver.
    #[prost(bool, tag = "9")]
    pub systemd_cgroup: bool,
    /// Where to write CRIU images.
    #[prost(string, tag = "10")]
    pub criu_image_path: String,
    /// CRIU's work directory.
    #[prost(string, tag = "11")]
    pub criu_work_path: String,
}

/// `runtimeoptions.v1.Options`: a config file for runtimes other than runc
/// (`ctr run --runtime-config-path`).
#[derive(Clone, PartialEq, Message)]
pub struct RuntimeOptions {
    /// The type URL of the runtime's own options.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The runtime's configuration file.
    #[prost(string, tag = "2")]
    pub config_path: String,
    /// The configuration inline.
    #[prost(string, tag = "3")]
    pub config_body: String,
}

/// `containerd.runc.v1.ProcessDetails`: what the runc shim says about a
/// process in a task's process list.
#[derive(Clone, PartialEq, Message)]
pub struct ProcessDetails {
    /// The exec id of the process (empty for the init process).
    #[prost(string, tag = "1")]
    pub exec_id: String,
}

impl RuncOptions {
    /// As an `Any` for a container record.
    pub fn to_any(&self) -> Any {
        Any {
            type_url: RUNC_OPTIONS_TYPE_URL.to_string(),
            value: self.encode_to_vec(),
        }
    }
}

impl RuntimeOptions {
    /// As an `Any` for a container record.
    pub fn to_any(&self) -> Any {
        Any {
            type_url: RUNTIME_OPTIONS_TYPE_URL.to_string(),
            value: self.encode_to_vec(),
        }
    }
}

/// The runtime options `ctr run` stores: runc options for
/// `io.containerd.runc.v2` (with `binary_name` when given), otherwise a
/// config path when one is given, otherwise none.
pub fn for_runtime(
    runtime: &str,
    runc_binary: Option<&str>,
    config_path: Option<&str>,
) -> Option<Any> {
    if runtime == DEFAULT_RUNTIME {
        let options = RuncOptions {
            binary_name: runc_binary.unwrap_or_default().to_string(),
            ..RuncOptions::default()
        };
        return Some(options.to_any());
    }
    config_path.filter(|p| !p.is_empty()).map(|path| {
        RuntimeOptions {
            config_path: path.to_string(),
            ..RuntimeOptions::default()
        }
        .to_any()
    })
}

/// Decodes process details of a process list entry, if they are runc's.
pub fn process_details(any: &Any) -> Option<ProcessDetails> {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    (name == PROCESS_DETAILS_TYPE_URL)
        .then(|| ProcessDetails::decode(any.value.as_slice()).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_like_ctr() {
        let Some(any) = for_runtime(DEFAULT_RUNTIME, None, Some("/ignored")) else {
            panic!("runc gets options");
        };
        assert_eq!(any.type_url, RUNC_OPTIONS_TYPE_URL);
        assert!(any.value.is_empty());
        let Some(any) = for_runtime(DEFAULT_RUNTIME, Some("crun"), None) else {
            panic!("runc gets options");
        };
        assert_eq!(
            RuncOptions::decode(any.value.as_slice())
                .map(|o| o.binary_name)
                .ok(),
            Some("crun".to_string())
        );
        assert_eq!(for_runtime("io.containerd.kata.v2", None, None), None);
        let Some(any) = for_runtime("io.containerd.kata.v2", None, Some("/etc/kata.toml")) else {
            panic!("config path gives options");
        };
        assert_eq!(any.type_url, RUNTIME_OPTIONS_TYPE_URL);
        assert_eq!(
            RuntimeOptions::decode(any.value.as_slice())
                .map(|o| o.config_path)
                .ok(),
            Some("/etc/kata.toml".to_string())
        );
        let details = ProcessDetails {
            exec_id: "e1".into(),
        };
        let any = Any {
            type_url: PROCESS_DETAILS_TYPE_URL.into(),
            value: details.encode_to_vec(),
        };
        assert_eq!(process_details(&any), Some(details));
    }
}
