//! `crated config migrate`: a version 1 or 2 file rewritten as version 3,
//! with the key moves containerd 2.x makes when it migrates a config.
//!
//! - 1 → 2: plugin sections and `disabled_plugins`/`required_plugins` name
//!   plugins by `<type>.<id>` instead of the bare id;
//! - 2 → 3: the CRI plugin's section splits into
//!   `io.containerd.cri.v1.images` (registry, snapshotter, pinned sandbox
//!   image, …), `io.containerd.cri.v1.runtime` (runtimes, CNI, …) and what
//!   stays in `io.containerd.grpc.v1.cri` (the streaming server).

use std::path::Path;

use toml::{Table, Value};

use crate::error::ConfigError;
use crate::load::parse_document;
use crate::model::CURRENT_VERSION;

/// The migrated file and what the migration had to guess.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrated {
    /// The version 3 file.
    pub text: String,
    /// Guesses made on the way (e.g. a bare plugin id of unknown type).
    pub notes: Vec<String>,
}

/// Bare version 1 plugin ids of known type (containerd's core plugins and
/// crated's own plugins that have options).
const V1_IDS: [(&str, &str); 17] = [
    ("cri", "io.containerd.grpc.v1.cri"),
    ("cgroups", "io.containerd.monitor.v1.cgroups"),
    ("linux", "io.containerd.runtime.v1.linux"),
    ("scheduler", "io.containerd.gc.v1.scheduler"),
    ("bolt", "io.containerd.metadata.v1.bolt"),
    ("task", "io.containerd.runtime.v2.task"),
    ("opt", "io.containerd.internal.v1.opt"),
    ("restart", "io.containerd.internal.v1.restart"),
    ("tracing", "io.containerd.internal.v1.tracing"),
    ("otlp", "io.containerd.tracing.processor.v1.otlp"),
    ("aufs", "io.containerd.snapshotter.v1.aufs"),
    ("btrfs", "io.containerd.snapshotter.v1.btrfs"),
    ("devmapper", "io.containerd.snapshotter.v1.devmapper"),
    ("native", "io.containerd.snapshotter.v1.native"),
    ("overlayfs", "io.containerd.snapshotter.v1.overlayfs"),
    ("zfs", "io.containerd.snapshotter.v1.zfs"),
    ("walking", "io.containerd.differ.v1.walking"),
];

pub(crate) const CRI: &str = "io.containerd.grpc.v1.cri";
pub(crate) const CRI_IMAGES: &str = "io.containerd.cri.v1.images";
pub(crate) const CRI_RUNTIME: &str = "io.containerd.cri.v1.runtime";
/// Top-level CRI keys that move to the image service.
const IMAGE_KEYS: [&str; 6] = [
    "registry",
    "image_decryption",
    "max_concurrent_downloads",
    "image_pull_progress_timeout",
    "image_pull_with_sync_fs",
    "stats_collect_period",
];
/// `containerd` sub-keys of the CRI section that move to the image service.
pub(crate) const IMAGE_CONTAINERD_KEYS: [&str; 3] = [
    "snapshotter",
    "disable_snapshot_annotations",
    "discard_unpacked_layers",
];
/// CRI keys that stay in `io.containerd.grpc.v1.cri` (the server).
const SERVER_KEYS: [&str; 6] = [
    "disable_tcp_service",
    "stream_server_address",
    "stream_server_port",
    "stream_idle_timeout",
    "enable_tls_streaming",
    "x509_key_pair_streaming",
];

/// Rewrites the config file `text` (read from `path`) as version 3.
/// `platform` (`os/arch`) fills the CRI image service's per-runtime
/// platforms. Imports are not followed: each file migrates on its own.
pub fn migrate(path: &Path, text: &str, platform: &str) -> Result<Migrated, ConfigError> {
    let doc = parse_document(path, text)?;
    let mut table = doc.table;
    let mut notes = Vec::new();
    if doc.version < 2 {
        v1_to_v2(&mut table, &mut notes);
    }
    if doc.version < 3 {
        v2_to_v3(&mut table, platform);
    }
    table.remove("version");
    let body = toml::to_string(&table).map_err(|e| ConfigError::Serialize {
        message: e.to_string(),
    })?;
    Ok(Migrated {
        text: format!("version = {CURRENT_VERSION}\n{body}"),
        notes,
    })
}

fn v1_name(id: &str, notes: &mut Vec<String>) -> String {
    if id.contains('.') {
        return id.to_owned();
    }
    if let Some((_, uri)) = V1_IDS.iter().find(|(bare, _)| *bare == id) {
        return (*uri).to_owned();
    }
    if id.ends_with("-service") {
        return format!("io.containerd.service.v1.{id}");
    }
    let uri = format!("io.containerd.grpc.v1.{id}");
    notes.push(format!(
        "plugin {id:?} of a version 1 config has no known type; taken as {uri:?}"
    ));
    uri
}

fn v1_to_v2(table: &mut Table, notes: &mut Vec<String>) {
    if let Some(Value::Table(plugins)) = table.remove("plugins") {
        let renamed: Table = plugins
            .into_iter()
            .map(|(id, section)| (v1_name(&id, notes), section))
            .collect();
        table.insert("plugins".into(), Value::Table(renamed));
    }
    for list in ["disabled_plugins", "required_plugins"] {
        if let Some(Value::Array(items)) = table.get_mut(list) {
            for item in items.iter_mut() {
                if let Value::String(id) = item {
                    *id = v1_name(id, notes);
                }
            }
        }
    }
}

pub(crate) fn sub_table<'a>(table: &'a mut Table, key: &str) -> &'a mut Table {
    let entry = table
        .entry(key)
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    match entry {
        Value::Table(t) => t,
        _ => unreachable!("replaced by a table above"),
    }
}

fn v2_to_v3(table: &mut Table, platform: &str) {
    let Some(Value::Table(plugins)) = table.get_mut("plugins") else {
        return;
    };
    let Some(Value::Table(mut cri)) = plugins.remove(CRI) else {
        return;
    };
    let mut containerd = match cri.remove("containerd") {
        Some(Value::Table(t)) => t,
        _ => Table::new(),
    };

    let images = sub_table(plugins, CRI_IMAGES);
    if let Some(Value::Table(runtimes)) = containerd.get("runtimes") {
        for (name, runtime) in runtimes {
            if let Some(Value::String(snapshotter)) = runtime.get("snapshotter")
                && !snapshotter.is_empty()
            {
                let mut entry = Table::new();
                entry.insert("platform".into(), Value::String(platform.to_owned()));
                entry.insert("snapshotter".into(), Value::String(snapshotter.clone()));
                sub_table(images, "runtime_platform").insert(name.clone(), Value::Table(entry));
            }
        }
    }
    if let Some(image) = cri.remove("sandbox_image") {
        sub_table(images, "pinned_images").insert("sandbox".into(), image);
    }
    for key in IMAGE_CONTAINERD_KEYS {
        if let Some(v) = containerd.remove(key) {
            images.insert(key.into(), v);
        }
    }
    for key in IMAGE_KEYS {
        if let Some(v) = cri.remove(key) {
            images.insert(key.into(), v);
        }
    }
    if images.is_empty() {
        plugins.remove(CRI_IMAGES);
    }

    let mut server = Table::new();
    for key in SERVER_KEYS {
        if let Some(v) = cri.remove(key) {
            server.insert(key.into(), v);
        }
    }
    let runtime = sub_table(plugins, CRI_RUNTIME);
    if let Some(Value::Table(cni)) = cri.remove("cni") {
        let new_cni = sub_table(runtime, "cni");
        for (k, v) in cni {
            if k == "bin_dir" {
                let has_dirs = new_cni
                    .get("bin_dirs")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if !has_dirs {
                    new_cni.insert("bin_dirs".into(), Value::Array(vec![v]));
                }
            } else {
                new_cni.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Table(runtimes)) = containerd.get_mut("runtimes") {
        for (_, runtime) in runtimes.iter_mut() {
            if let Value::Table(r) = runtime
                && !r.contains_key("sandboxer")
                && let Some(mode) = r.remove("sandbox_mode")
            {
                r.insert("sandboxer".into(), mode);
            }
        }
    }
    if !containerd.is_empty() {
        let new_containerd = sub_table(runtime, "containerd");
        for (k, v) in containerd {
            new_containerd.entry(k).or_insert(v);
        }
    }
    for (k, v) in cri {
        runtime.entry(k).or_insert(v);
    }
    if runtime.is_empty() {
        plugins.remove(CRI_RUNTIME);
    }
    if !server.is_empty() {
        plugins.insert(CRI.into(), Value::Table(server));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn migrated(text: &str) -> (Table, Vec<String>) {
        let out = migrate(Path::new("old.toml"), text, "linux/amd64").unwrap();
        assert!(out.text.starts_with("version = 3\n"), "{}", out.text);
        (toml::from_str(&out.text).unwrap(), out.notes)
    }

    #[test]
    fn version_1_cri_config_becomes_version_3() {
        let (t, notes) = migrated(
            r#"
            root = "/var/lib/containerd"
            disabled_plugins = ["aufs", "my-service", "btrfs"]
            [plugins.scheduler]
              pause_threshold = 0.05
            [plugins.frobnicator]
              level = 3
            [plugins.cri]
              sandbox_image = "registry.k8s.io/pause:3.6"
              stream_server_port = "0"
              enable_selinux = false
              max_concurrent_downloads = 3
              [plugins.cri.containerd]
                snapshotter = "overlayfs"
                default_runtime_name = "runc"
                [plugins.cri.containerd.runtimes.runc]
                  runtime_type = "io.containerd.runc.v2"
                  snapshotter = "native"
                  sandbox_mode = "podsandbox"
              [plugins.cri.cni]
                bin_dir = "/opt/cni/bin"
                conf_dir = "/etc/cni/net.d"
              [plugins.cri.registry]
                config_path = "/etc/containerd/certs.d"
            "#,
        );
        assert_eq!(t["version"].as_integer(), Some(3));
        assert_eq!(t["root"].as_str(), Some("/var/lib/containerd"));
        let disabled: Vec<&str> = t["disabled_plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            disabled,
            [
                "io.containerd.snapshotter.v1.aufs",
                "io.containerd.service.v1.my-service",
                "io.containerd.snapshotter.v1.btrfs"
            ]
        );
        let p = t["plugins"].as_table().unwrap();
        assert_eq!(
            p["io.containerd.gc.v1.scheduler"]["pause_threshold"].as_float(),
            Some(0.05)
        );
        assert!(p.contains_key("io.containerd.grpc.v1.frobnicator"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("frobnicator"));

        let images = p[CRI_IMAGES].as_table().unwrap();
        assert_eq!(
            images["pinned_images"]["sandbox"].as_str(),
            Some("registry.k8s.io/pause:3.6")
        );
        assert_eq!(images["snapshotter"].as_str(), Some("overlayfs"));
        assert_eq!(images["max_concurrent_downloads"].as_integer(), Some(3));
        assert_eq!(
            images["registry"]["config_path"].as_str(),
            Some("/etc/containerd/certs.d")
        );
        assert_eq!(
            images["runtime_platform"]["runc"]["snapshotter"].as_str(),
            Some("native")
        );
        assert_eq!(
            images["runtime_platform"]["runc"]["platform"].as_str(),
            Some("linux/amd64")
        );

        let runtime = p[CRI_RUNTIME].as_table().unwrap();
        assert_eq!(runtime["enable_selinux"].as_bool(), Some(false));
        assert_eq!(
            runtime["cni"]["bin_dirs"].as_array().unwrap()[0].as_str(),
            Some("/opt/cni/bin")
        );
        assert_eq!(runtime["cni"]["conf_dir"].as_str(), Some("/etc/cni/net.d"));
        let runc = &runtime["containerd"]["runtimes"]["runc"];
        assert_eq!(runc["sandboxer"].as_str(), Some("podsandbox"));
        assert!(runc.get("sandbox_mode").is_none());
        assert_eq!(
            runtime["containerd"]["default_runtime_name"].as_str(),
            Some("runc")
        );
        assert!(runtime["containerd"].get("snapshotter").is_none());
        assert!(runtime.get("sandbox_image").is_none());

        let server = p[CRI].as_table().unwrap();
        assert_eq!(server.len(), 1, "{server:?}");
        assert_eq!(server["stream_server_port"].as_str(), Some("0"));
    }

    #[test]
    fn version_3_is_left_as_is() {
        let (t, notes) = migrated(
            "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"x\"\n",
        );
        assert!(notes.is_empty());
        assert_eq!(t["plugins"][CRI]["sandbox_image"].as_str(), Some("x"));
    }
}
