//! The reply a shim prints on `start`: a bare `unix://…` address (task API
//! v2, containerd 1.x shims) or a JSON bootstrap document (containerd 2.x).

use crated_core::{Error, ErrorKind, Result};
use serde::Deserialize;

/// Which task service a shim serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskApi {
    /// `containerd.task.v2.Task`.
    V2,
    /// `containerd.task.v3.Task`.
    V3,
}

impl TaskApi {
    /// The ttrpc service name.
    pub fn service(self) -> &'static str {
        match self {
            TaskApi::V2 => "containerd.task.v2.Task",
            TaskApi::V3 => "containerd.task.v3.Task",
        }
    }

    /// The version number written to the bundle.
    pub fn version(self) -> u32 {
        match self {
            TaskApi::V2 => 2,
            TaskApi::V3 => 3,
        }
    }
}

/// Where and how to reach a shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The shim's ttrpc socket address, `unix:///…`.
    pub address: String,
    /// The task API it serves.
    pub api: TaskApi,
}

#[derive(Deserialize)]
struct Json {
    version: u32,
    address: String,
    #[serde(default)]
    protocol: String,
}

/// Parses what a shim printed on `start`.
pub fn parse(output: &str) -> Result<Bootstrap> {
    let text = output.trim();
    if text.starts_with('{') {
        let json: Json = serde_json::from_str(text).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidArgument,
                format_args!("shim bootstrap reply {text:?}"),
                e,
            )
        })?;
        if !json.protocol.is_empty() && json.protocol != "ttrpc" {
            return Err(Error::not_implemented(format!(
                "shim speaks {:?}; crated talks to shims over ttrpc only",
                json.protocol
            )));
        }
        let api = match json.version {
            2 => TaskApi::V2,
            3 => TaskApi::V3,
            v => {
                return Err(Error::not_implemented(format!(
                    "shim bootstrap version {v} is not supported (2 or 3)"
                )));
            }
        };
        return Ok(Bootstrap {
            address: json.address,
            api,
        });
    }
    if text.starts_with("unix://") {
        return Ok(Bootstrap {
            address: text.to_string(),
            api: TaskApi::V2,
        });
    }
    Err(Error::invalid_argument(format!(
        "shim start printed {text:?}, expected a unix:// address or a JSON bootstrap document"
    )))
}

/// Reads a bundle's `address` and optional `bootstrap.json` back.
pub fn load(bundle: &std::path::Path) -> Result<Bootstrap> {
    let json = bundle.join("bootstrap.json");
    if let Ok(text) = std::fs::read_to_string(&json) {
        return parse(&text);
    }
    let path = bundle.join("address");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::with_source(
            ErrorKind::NotFound,
            format_args!("shim address {}", path.display()),
            e,
        )
    })?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_address_is_v2() {
        let b = parse("unix:///run/containerd/s/abc\n").unwrap();
        assert_eq!(b.api, TaskApi::V2);
        assert_eq!(b.address, "unix:///run/containerd/s/abc");
    }

    #[test]
    fn json_bootstrap() {
        let b = parse(r#"{"version":3,"address":"unix:///x","protocol":"ttrpc"}"#).unwrap();
        assert_eq!(b.api, TaskApi::V3);
        assert!(parse(r#"{"version":3,"address":"unix:///x","protocol":"grpc"}"#).is_err());
        assert!(parse(r#"{"version":9,"address":"unix:///x"}"#).is_err());
        assert!(parse("garbage").is_err());
    }
}
