//! Generates the tonic server traits of containerd's gRPC services from the
//! `.proto` files that the `containerd-client` crate ships (its `vendor/`
//! directory), so every route, message type and streaming shape is
//! containerd's own. Messages are not generated again: every containerd
//! package maps to the types `containerd-client` already carries, so the
//! daemon and the client share one set of wire types.

use std::env;
use std::error::Error;
use std::path::PathBuf;
use std::process::Command;

/// The services crated serves, as paths under `containerd-client`'s
/// `vendor/github.com/containerd/containerd/api/services/`.
const SERVICES: &[&str] = &[
    "containers/v1/containers.proto",
    "content/v1/content.proto",
    "diff/v1/diff.proto",
    "events/v1/events.proto",
    "images/v1/images.proto",
    "introspection/v1/introspection.proto",
    "leases/v1/leases.proto",
    "namespaces/v1/namespace.proto",
    "snapshots/v1/snapshots.proto",
    "streaming/v1/streaming.proto",
    "tasks/v1/tasks.proto",
    "transfer/v1/transfer.proto",
    "version/v1/version.proto",
];

/// Protobuf packages and the `containerd-client` modules holding their
/// generated messages.
const EXTERN_PATHS: &[(&str, &str)] = &[
    (".containerd.types", "::containerd_client::types"),
    (".containerd.v1.types", "::containerd_client::types::v1"),
    (".containerd.events", "::containerd_client::events"),
    (".google.rpc", "::containerd_client::google::rpc"),
    (
        ".containerd.services.snapshots.v1",
        "::containerd_client::services::v1::snapshots",
    ),
];

/// The packages whose messages `containerd-client` puts in `services::v1`.
const V1_PACKAGES: &[&str] = &[
    "containers",
    "content",
    "diff",
    "events",
    "images",
    "introspection",
    "leases",
    "namespaces",
    "streaming",
    "tasks",
    "transfer",
    "version",
];

fn main() -> Result<(), Box<dyn Error>> {
    let vendor = containerd_client_dir()?.join("vendor");
    let services = vendor.join("github.com/containerd/containerd/api/services");
    let protos: Vec<PathBuf> = SERVICES.iter().map(|p| services.join(p)).collect();
    let mut builder = tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(true);
    for (package, module) in EXTERN_PATHS {
        builder = builder.extern_path(*package, *module);
    }
    for name in V1_PACKAGES {
        builder = builder.extern_path(
            format!(".containerd.services.{name}.v1"),
            "::containerd_client::services::v1",
        );
    }
    builder
        .compile_protos(&protos, &[vendor])
        .map_err(|e| format!("compiling containerd's service definitions: {e}"))?;
    Ok(())
}

/// The source directory of the `containerd-client` package this crate
/// depends on, from `cargo metadata` (offline: it only reads the lock file
/// and the package cache cargo already filled for this build; filtered to
/// the build's target, whose packages are the ones cargo downloaded — a
/// fresh cache lacks other platforms' packages).
fn containerd_client_dir() -> Result<PathBuf, Box<dyn Error>> {
    let cargo = env::var_os("CARGO").ok_or("CARGO is not set: run the build through cargo")?;
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?)
        .join("Cargo.toml");
    let target =
        env::var("TARGET").map_err(|_| "TARGET is not set: run the build through cargo")?;
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &target,
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let id_of = |name: &str| -> Option<String> {
        metadata["packages"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name && p["manifest_path"] == manifest.to_str().unwrap_or(""))
            .and_then(|p| p["id"].as_str().map(str::to_string))
    };
    let api = id_of("crated-api").ok_or("crated-api is not in cargo metadata's packages")?;
    // The containerd-client that crated-api's resolved dependencies name.
    let client_id = metadata["resolve"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == api.as_str()))
        .and_then(|node| node["deps"].as_array())
        .and_then(|deps| deps.iter().find(|d| d["name"] == "containerd_client"))
        .and_then(|d| d["pkg"].as_str())
        .ok_or("crated-api's resolved dependencies name no containerd-client")?;
    let client_manifest = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["id"] == client_id))
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or("containerd-client's manifest is not in cargo metadata's packages")?;
    let dir = PathBuf::from(client_manifest)
        .parent()
        .map(PathBuf::from)
        .ok_or("containerd-client's manifest path has no parent")?;
    println!("cargo:rerun-if-changed={}", manifest.display());
    Ok(dir)
}
