//! Clients built on grpc-core connect with default options: a real Python
//! grpcio client (Debian's `python3-grpcio`, installed by
//! `scripts/install-deps.sh`) with a default `grpc.insecure_channel` on the
//! daemon's `unix:` socket. Debian's grpcio 1.51 sends `:authority:
//! localhost` there; newer grpc-core releases send the percent-encoded
//! socket path (`run%2Fcrated%2Fcrated.sock`), which the HTTP/2 server
//! refuses unless crated fixes it: PyPI's current grpcio (in a venv made by
//! the install script) runs with a default channel, and Debian's with that
//! authority set as the channel's default.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crated_e2e::{Cmd, Daemon, test_bytes};

/// Debian's Python with Debian's grpcio (1.51).
const PYTHON: &str = "/usr/bin/python3";
/// PyPI's current grpcio, in the venv `scripts/install-deps.sh` makes.
const PYPI_PYTHON: &str = "/opt/crated-test/grpcio-venv/bin/python";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_clients/grpcio_client.py")
}

/// What newer grpc-core releases send as `:authority` for `unix:<path>`.
fn grpc_core_authority(socket: &Path) -> String {
    let path = socket.to_string_lossy();
    path.trim_start_matches('/').replace('/', "%2F")
}

/// Runs the Python client against `daemon` (optionally with `authority` as
/// the channel's default) and checks its calls: Version,
/// Namespaces.List/Get/Update and a server-streaming Content.Read. Get of a
/// namespace nobody created answers with no labels and Update with a
/// `labels.<key>` mask creates it, as the Go client's first calls expect.
fn check_python_client(daemon: &Daemon, python: &str, authority: Option<String>) {
    let data = test_bytes(3 << 20, 8);
    let digest = daemon.ingest("py-content", "py-blob", &data);
    let mut args = vec![
        script().into_os_string(),
        daemon.socket().into_os_string(),
        "py-content".into(),
        digest.into(),
    ];
    args.extend(authority.map(OsString::from));
    let got = Cmd::new(python).args(args).run().ok().json();
    assert_eq!(got["version"], env!("CARGO_PKG_VERSION"), "{got}");
    let before = got["namespaces_before"].to_string();
    assert!(before.contains("\"py-content\""), "{got}");
    assert!(!before.contains("py-never-created"), "{got}");
    assert_eq!(got["get_missing"]["name"], "py-never-created", "{got}");
    assert_eq!(got["get_missing"]["labels"], 0, "{got}");
    let after = got["namespaces_after"].to_string();
    assert!(after.contains("\"py-labelled\""), "{got}");
    assert!(!after.contains("py-never-created"), "{got}");
    assert_eq!(got["read"]["size"], data.len(), "{got}");
    assert!(got["read"]["messages"].as_u64().unwrap_or(0) > 1, "{got}");
}

/// A default channel. Needs root.
#[test]
fn python_grpcio_default_channel() {
    let daemon = Daemon::start();
    check_python_client(&daemon, PYTHON, None);
}

/// PyPI's current grpcio with a default channel: its grpc-core sends the
/// percent-encoded socket path as `:authority`. Needs root.
#[test]
fn pypi_grpcio_default_channel() {
    let daemon = Daemon::start();
    check_python_client(&daemon, PYPI_PYTHON, None);
}

/// The percent-encoded socket path as `:authority`, as newer grpc-core
/// sends by default. Needs root.
#[test]
fn python_grpcio_percent_encoded_authority() {
    let daemon = Daemon::start();
    check_python_client(&daemon, PYTHON, Some(grpc_core_authority(&daemon.socket())));
}
