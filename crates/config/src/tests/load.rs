//! Loading files: versions, imports, merging, warnings and errors.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::fixtures::{CONTAINERD_16_DEFAULT, VERSION_1, VERSION_3};
use crate::{Config, ConfigError, LoadedConfig};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

fn load(dir: &TempDir, text: &str) -> LoadedConfig {
    let path = write(dir.path(), "config.toml", text);
    Config::load(&path).unwrap()
}

#[test]
fn containerd_16_default_config_loads_cleanly() {
    let dir = TempDir::new().unwrap();
    let loaded = load(&dir, CONTAINERD_16_DEFAULT);
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert!(loaded.imported.is_empty());
    let c = &loaded.config;
    assert_eq!(c.version, 2);
    assert_eq!(c.root, Path::new("/var/lib/containerd"));
    assert_eq!(c.grpc.address, "/run/containerd/containerd.sock");
    assert_eq!(
        c.ttrpc_address(),
        Path::new("/run/containerd/containerd.sock.ttrpc")
    );
    assert_eq!(c.timeouts["io.containerd.timeout.shim.load"], "5s");
    assert_eq!(c.stream_processors.len(), 2);
    assert_eq!(
        c.stream_processors["io.containerd.ocicrypt.decoder.v1.tar"].path,
        "ctd-decoder"
    );
    let cri = c.plugin_config("io.containerd.grpc.v1", "cri").unwrap();
    assert_eq!(
        cri.get("sandbox_image").and_then(toml::Value::as_str),
        Some("registry.k8s.io/pause:3.6")
    );
    let runc = &cri["containerd"]["runtimes"]["runc"];
    assert_eq!(runc["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
    assert_eq!(runc["options"]["SystemdCgroup"].as_bool(), Some(false));
    let gc = c.plugin_config("io.containerd.gc.v1", "scheduler").unwrap();
    assert_eq!(gc["pause_threshold"].as_float(), Some(0.02));
    // Version 2: bare ids do not match.
    assert!(c.plugin_config("io.containerd.grpc.v1", "nope").is_none());
}

#[test]
fn version_1_config() {
    let dir = TempDir::new().unwrap();
    let loaded = load(&dir, VERSION_1);
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let c = &loaded.config;
    assert_eq!(c.version, 1);
    assert_eq!(c.root, Path::new("/srv/containerd"));
    assert_eq!(c.state, Path::new("/run/crated"));
    assert_eq!(c.oom_score, -999);
    assert!(c.plugins.contains_key("cri"), "keys kept as written");
    let cri = c.plugin_config("io.containerd.grpc.v1", "cri").unwrap();
    assert_eq!(cri["containerd"]["snapshotter"].as_str(), Some("overlayfs"));
    let linux = c
        .plugin_config("io.containerd.runtime.v1", "linux")
        .unwrap();
    assert_eq!(linux["shim_debug"].as_bool(), Some(true));
    assert!(c.plugin_disabled("io.containerd.snapshotter.v1", "aufs"));
}

#[test]
fn version_3_config() {
    let dir = TempDir::new().unwrap();
    let loaded = load(&dir, VERSION_3);
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let c = &loaded.config;
    assert_eq!(c.version, 3);
    let images = c.plugin_config("io.containerd.cri.v1", "images").unwrap();
    assert_eq!(
        images["pinned_images"]["sandbox"].as_str(),
        Some("registry.k8s.io/pause:3.10")
    );
    assert!(c.plugin_config("io.containerd.cri.v1", "runtime").is_some());
    assert!(
        c.plugin_config("io.containerd.gc.v1", "scheduler")
            .is_some()
    );
}

#[test]
fn bare_plugin_keys_in_version_2_are_warned_about() {
    let dir = TempDir::new().unwrap();
    let loaded = load(
        &dir,
        "version = 2\ndisabled_plugins = [\"btrfs\"]\n[plugins.cri]\nsandbox_image = \"x\"\n",
    );
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("\"plugins.cri\""),
        "{:?}",
        loaded.warnings
    );
    assert!(loaded.warnings[1].contains("disabled_plugins \"btrfs\""));
    assert!(
        loaded
            .config
            .plugin_config("io.containerd.grpc.v1", "cri")
            .is_none()
    );
}

#[test]
fn unknown_keys_are_warnings() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "config.toml",
        r#"
version = 2
foo = 1
[grpc]
address = "/x.sock"
bogus = true
[grpc.deeper]
x = 1
[debug]
level = "debug"
[stream_processors."io.x"]
path = "dec"
nope = ""
[plugins."io.containerd.anything.v1.at-all"]
whatever = 1
[proxy_plugins.p]
type = "snapshot"
address = "/p.sock"
strange = 1
[timeouts]
"any.key" = "1s"
"#,
    );
    let loaded = Config::load(&path).unwrap();
    let p = path.display();
    assert_eq!(
        loaded.warnings,
        vec![
            format!("unknown key \"foo\" in {p} is ignored"),
            format!("unknown key \"grpc.bogus\" in {p} is ignored"),
            format!("unknown key \"grpc.deeper\" in {p} is ignored"),
            format!("unknown key \"stream_processors.\\\"io.x\\\".nope\" in {p} is ignored"),
        ]
    );
    assert_eq!(loaded.config.grpc.address, "/x.sock");
    assert_eq!(loaded.config.debug.level, "debug");
    assert_eq!(loaded.config.stream_processors["io.x"].path, "dec");
}

#[test]
fn imports_relative_glob_and_nested_merge_in_order() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let main = write(
        d,
        "config.toml",
        r#"
version = 2
root = "/main"
state = "/main-state"
oom_score = 3
imports = ["extra.toml", "conf.d/*.toml"]
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs"]
[grpc]
address = "/main.sock"
uid = 7
[timeouts]
"a" = "1s"
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "main"
[plugins."io.containerd.grpc.v1.cri".containerd]
snapshotter = "overlayfs"
default_runtime_name = "runc"
[plugins."io.containerd.gc.v1.scheduler"]
pause_threshold = 0.02
"#,
    );
    let extra = write(
        d,
        "extra.toml",
        r#"
version = 2
state = "/extra-state"
imports = ["nested/deep.toml"]
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs"]
[grpc]
uid = 8
[timeouts]
"b" = "2s"
[plugins."io.containerd.grpc.v1.cri".containerd]
snapshotter = "native"
"#,
    );
    let a = write(
        d,
        "conf.d/10-a.toml",
        r#"
version = 2
oom_score = 0
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "from-a"
"#,
    );
    let b = write(
        d,
        "conf.d/20-b.toml",
        r#"
version = 2
[timeouts]
"a" = "9s"
"#,
    );
    write(d, "conf.d/ignored.txt", "this is not toml [");
    // Nested import relative to extra.toml's directory, which imports the main
    // file and extra.toml again: a cycle, loaded once.
    let deep = write(
        d,
        "nested/deep.toml",
        r#"
version = 2
imports = ["../config.toml", "../extra.toml"]
root = "/deep"
"#,
    );

    let loaded = Config::load(&main).unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    // Breadth-first: main's imports in order, then extra's.
    let canon = |p: &PathBuf| fs::canonicalize(p).unwrap();
    assert_eq!(
        loaded.imported.iter().map(canon).collect::<Vec<_>>(),
        [&extra, &a, &b, &deep].map(canon).to_vec()
    );
    let c = &loaded.config;
    assert_eq!(c.version, 2);
    assert_eq!(c.root, Path::new("/deep"));
    assert_eq!(c.state, Path::new("/extra-state"));
    assert_eq!(c.oom_score, 0, "an import can set a value back to zero");
    assert_eq!(c.grpc.address, "/main.sock");
    assert_eq!(c.grpc.uid, 8);
    assert_eq!(c.grpc.max_recv_message_size, 16 << 20);
    assert_eq!(
        c.disabled_plugins,
        [
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.zfs"
        ]
    );
    assert_eq!(c.timeouts["a"], "9s");
    assert_eq!(c.timeouts["b"], "2s");
    let cri = c.plugin_config("io.containerd.grpc.v1", "cri").unwrap();
    assert_eq!(cri["sandbox_image"].as_str(), Some("from-a"));
    assert_eq!(cri["containerd"]["snapshotter"].as_str(), Some("native"));
    assert_eq!(
        cri["containerd"]["default_runtime_name"].as_str(),
        Some("runc")
    );
    assert!(
        c.plugin_config("io.containerd.gc.v1", "scheduler")
            .is_some()
    );
    assert_eq!(
        c.imports,
        loaded
            .imported
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn absolute_import_and_missing_import() {
    let dir = TempDir::new().unwrap();
    let other = write(dir.path(), "abs/other.toml", "oom_score = 4\n");
    let main = write(
        dir.path(),
        "config.toml",
        &format!(
            "imports = [{:?}, \"none/*.toml\"]\n",
            other.display().to_string()
        ),
    );
    let loaded = Config::load(&main).unwrap();
    assert_eq!(loaded.imported, vec![other]);
    assert_eq!(loaded.config.oom_score, 4);

    write(dir.path(), "config.toml", "imports = [\"missing.toml\"]\n");
    let err = Config::load(&main).unwrap_err();
    assert!(matches!(err, ConfigError::ImportNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("missing.toml") && msg.contains("config.toml"),
        "{msg}"
    );
}

#[test]
fn bad_glob_is_an_error() {
    let dir = TempDir::new().unwrap();
    let main = write(
        dir.path(),
        "config.toml",
        "imports = [\"conf.d/[*.toml\"]\n",
    );
    let err = Config::load(&main).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidImport { .. }), "{err:?}");
}

#[test]
fn import_of_other_version_is_warned_about() {
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        "v1.toml",
        "[plugins.cri]\nsandbox_image = \"x\"\n",
    );
    let main = write(
        dir.path(),
        "config.toml",
        "version = 2\nimports = [\"v1.toml\"]\n",
    );
    let loaded = Config::load(&main).unwrap();
    assert_eq!(loaded.config.version, 2);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("version 1"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "config.toml",
        "version = 2\n[grpc]\naddress = = \"x\"\n",
    );
    let err = Config::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ConfigError::Parse {
                line: 3,
                column: 11,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.starts_with(&format!(
            "failed to parse {} at line 3, column 11: ",
            path.display()
        )),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_file_and_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "config.toml",
        "version = 2\n\n[grpc]\nuid = \"root\"\n",
    );
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 4, .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn malformed_import_names_the_import() {
    let dir = TempDir::new().unwrap();
    let bad = write(dir.path(), "bad.toml", "x = [1,\n");
    let main = write(dir.path(), "config.toml", "imports = [\"bad.toml\"]\n");
    let err = Config::load(&main).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Parse { path, .. } if *path == bad),
        "{err:?}"
    );
}

#[test]
fn unsupported_version() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "config.toml", "version = 4\n");
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::UnsupportedVersion { version: 4, .. }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("version 4") && msg.contains("1, 2 and 3"),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    write(dir.path(), "config.toml", "version = -1\n");
    assert!(Config::load(&path).is_err());
    write(dir.path(), "config.toml", "version = 0\n");
    assert_eq!(Config::load(&path).unwrap().config.version, 1);
}

#[test]
fn missing_file_explicit_vs_default() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config.toml");
    assert_eq!(
        Config::load_or_default(&path, false).unwrap(),
        LoadedConfig::defaults()
    );
    let err = Config::load_or_default(&path, true).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(matches!(
        Config::load(&path),
        Err(ConfigError::NotFound { .. })
    ));
    // An existing default file is loaded.
    write(dir.path(), "config.toml", "version = 2\noom_score = 1\n");
    assert_eq!(
        Config::load_or_default(&path, false)
            .unwrap()
            .config
            .oom_score,
        1
    );
}

#[test]
fn dump_round_trips() {
    let dir = TempDir::new().unwrap();
    let loaded = load(&dir, CONTAINERD_16_DEFAULT);
    let text = loaded.config.to_toml_string().unwrap();
    let again = write(dir.path(), "dumped.toml", &text);
    let reloaded = Config::load(&again).unwrap();
    assert_eq!(reloaded.warnings, Vec::<String>::new());
    assert_eq!(reloaded.config, loaded.config);
    assert_eq!(Config::from_toml_str(&text).unwrap(), loaded.config);
}
