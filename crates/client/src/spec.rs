//! Runtime spec generation — the shared `crated-oci` crate, re-exported —
//! and the spec's wire form: the `Any` containerd stores a spec (or an
//! exec's process spec) in.

pub use crated_oci::*;

use crate::error::{Error as ClientError, Result as ClientResult};

/// The type URL containerd stores a runtime spec under in an `Any`.
pub const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// The type URL of a process spec (for exec) in an `Any`.
pub const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// A spec as the `Any` containerd stores in a container record.
pub fn to_any(spec: &OciSpec) -> ClientResult<prost_types::Any> {
    let value = serde_json::to_vec(spec)
        .map_err(|e| ClientError::InvalidArgument(format!("encoding the runtime spec: {e}")))?;
    Ok(prost_types::Any {
        type_url: SPEC_TYPE_URL.to_string(),
        value,
    })
}

/// A process spec as the `Any` an exec request carries.
pub fn process_to_any(process: &oci_spec::runtime::Process) -> ClientResult<prost_types::Any> {
    let value = serde_json::to_vec(process)
        .map_err(|e| ClientError::InvalidArgument(format!("encoding the process spec: {e}")))?;
    Ok(prost_types::Any {
        type_url: PROCESS_TYPE_URL.to_string(),
        value,
    })
}

/// Decodes the spec of a container record.
pub fn from_any(any: &prost_types::Any) -> ClientResult<OciSpec> {
    serde_json::from_slice(&any.value).map_err(|e| {
        ClientError::protocol(format!(
            "the container's spec ({}) is not a runtime spec: {e}",
            any.type_url
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_any() {
        let host = Host {
            capabilities: Vec::new(),
            devices: Vec::new(),
            hostname: "vm".to_string(),
            kernel_has_safe_ptrace: true,
        };
        let Ok(spec) = SpecBuilder::new("ns", "c1")
            .args(["true"])
            .host(host)
            .build()
        else {
            panic!("build");
        };
        let Ok(any) = to_any(&spec) else {
            panic!("to_any");
        };
        assert_eq!(any.type_url, SPEC_TYPE_URL);
        assert_eq!(from_any(&any).ok(), Some(spec));
    }
}
