//! Runtime names containerd 1.6 still accepts though they are deprecated.
//!
//! `io.containerd.runtime.v1.linux` (containerd's v1 shim, deprecated since
//! containerd 1.4, removed in 2.0) runs on the runc v2 path here: crated has
//! no v1 shim, and a 1.6 user's container should still start. Its options
//! (`containerd.linux.runc.RuncOptions`) become the runc v2 shim's
//! (`containerd.runc.v1.Options`). `io.containerd.runc.v1` keeps its own
//! shim binary and is only reported. Each use is logged as a warning and
//! recorded for Introspection.Server, as containerd 1.7 does.

use crated_api::ttrpc::protobuf::well_known_types::any::Any as PbAny;
use prost::Message;

use super::introspection::IntrospectionState;

/// containerd's v1 runtime.
pub const RUNTIME_V1_LINUX: &str = "io.containerd.runtime.v1.linux";
/// The runc v1 shim.
pub const RUNC_V1: &str = "io.containerd.runc.v1";
/// Where the v1 runtime goes.
pub const RUNC_V2: &str = "io.containerd.runc.v2";

const V1_OPTIONS: &str = "containerd.linux.runc.RuncOptions";
const V2_OPTIONS_URL: &str = "containerd.runc.v1.Options";

/// `containerd.linux.runc.RuncOptions`, the v1 runtime's options.
#[derive(Clone, PartialEq, Message)]
struct V1Options {
    #[prost(string, tag = "1")]
    runtime: String,
    #[prost(string, tag = "2")]
    runtime_root: String,
    #[prost(string, tag = "3")]
    criu_path: String,
    #[prost(bool, tag = "4")]
    systemd_cgroup: bool,
}

/// The fields of `containerd.runc.v1.Options` the v1 options map onto.
#[derive(Clone, PartialEq, Message)]
struct RuncV2Options {
    #[prost(string, tag = "6")]
    binary_name: String,
    #[prost(string, tag = "7")]
    root: String,
    #[prost(string, tag = "8")]
    criu_path: String,
    #[prost(bool, tag = "9")]
    systemd_cgroup: bool,
}

/// The runtime a task of a container with runtime `name` runs with, and its
/// options: the v1 runtime becomes runc v2. Logs and records the
/// deprecation of a deprecated name.
pub fn effective(
    name: &str,
    options: Option<PbAny>,
    introspection: &IntrospectionState,
) -> Result<(String, Option<PbAny>), crated_core::Error> {
    let (id, replaced) = match name {
        RUNTIME_V1_LINUX => ("io.containerd.deprecation/runtime-v1", true),
        RUNC_V1 => ("io.containerd.deprecation/runtime-runc-v1", false),
        _ => return Ok((name.to_string(), options)),
    };
    let message = format!(
        "The `{name}` runtime is deprecated since containerd v1.4 and removed in containerd v2.0; use `{RUNC_V2}` instead{}",
        if replaced {
            " (crated runs it as `io.containerd.runc.v2`)"
        } else {
            ""
        }
    );
    tracing::warn!(runtime = name, "{message}");
    introspection.record_deprecation(id, &message);
    if !replaced {
        return Ok((name.to_string(), options));
    }
    let options = options.map(v2_options).transpose()?;
    Ok((RUNC_V2.to_string(), options))
}

/// v1 runtime options as runc v2 shim options; other types pass unchanged.
fn v2_options(any: PbAny) -> Result<PbAny, crated_core::Error> {
    if any.type_url.rsplit('/').next() != Some(V1_OPTIONS) {
        return Ok(any);
    }
    let v1 = V1Options::decode(any.value.as_slice()).map_err(|e| {
        crated_core::Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            format_args!("decoding {V1_OPTIONS} of the {RUNTIME_V1_LINUX} runtime"),
            e,
        )
    })?;
    let v2 = RuncV2Options {
        binary_name: v1.runtime,
        root: v1.runtime_root,
        criu_path: v1.criu_path,
        systemd_cgroup: v1.systemd_cgroup,
    };
    let mut out = PbAny::new();
    out.type_url = V2_OPTIONS_URL.to_string();
    out.value = v2.encode_to_vec();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_runtime_runs_as_runc_v2_and_is_recorded() {
        let state = IntrospectionState::default();
        let v1 = V1Options {
            runtime: "crun".into(),
            runtime_root: "/run/x".into(),
            criu_path: String::new(),
            systemd_cgroup: true,
        };
        let mut any = PbAny::new();
        any.type_url = format!("type.googleapis.com/{V1_OPTIONS}");
        any.value = v1.encode_to_vec();
        let (name, opts) = effective(RUNTIME_V1_LINUX, Some(any), &state).unwrap();
        assert_eq!(name, RUNC_V2);
        let opts = opts.unwrap();
        assert_eq!(opts.type_url, V2_OPTIONS_URL);
        let v2 = RuncV2Options::decode(opts.value.as_slice()).unwrap();
        assert_eq!(v2.binary_name, "crun");
        assert_eq!(v2.root, "/run/x");
        assert!(v2.systemd_cgroup);
        // Twice: still one entry.
        effective(RUNTIME_V1_LINUX, None, &state).unwrap();
        let list = state.deprecations.lock().unwrap();
        let ids: Vec<_> = list.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["io.containerd.deprecation/runtime-v1"]);
    }

    #[test]
    fn other_runtimes_are_unchanged() {
        let state = IntrospectionState::default();
        let (name, opts) = effective(RUNC_V2, None, &state).unwrap();
        assert_eq!((name.as_str(), opts), (RUNC_V2, None));
        let (name, _) = effective(RUNC_V1, None, &state).unwrap();
        assert_eq!(name, RUNC_V1);
        assert_eq!(state.deprecations.lock().unwrap().len(), 1);
    }
}
