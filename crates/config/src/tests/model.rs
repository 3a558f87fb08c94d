//! Defaults, accessors, overrides and rendering.

use std::path::{Path, PathBuf};

use crate::{Config, DEFAULT_MAX_MESSAGE_SIZE, Overrides};

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.version, 3);
    assert_eq!(c.root, Path::new("/var/lib/crated"));
    assert_eq!(c.state, Path::new("/run/crated"));
    assert_eq!(c.grpc.address, "/run/crated/crated.sock");
    assert_eq!(c.grpc.max_recv_message_size, 16_777_216);
    assert_eq!(c.grpc.max_send_message_size, DEFAULT_MAX_MESSAGE_SIZE);
    assert_eq!(c.ttrpc.address, "");
    assert_eq!(
        c.ttrpc_address(),
        Path::new("/run/crated/crated.sock.ttrpc")
    );
    assert!(c.plugins.is_empty() && c.imports.is_empty());
}

#[test]
fn empty_document_takes_defaults_but_version_one() {
    let c = Config::from_toml_str("").unwrap();
    assert_eq!(
        c,
        Config {
            version: 1,
            ..Config::default()
        }
    );
    let c = Config::from_toml_str("[grpc]\nuid = 5\n").unwrap();
    assert_eq!(c.grpc.uid, 5);
    assert_eq!(c.grpc.max_send_message_size, DEFAULT_MAX_MESSAGE_SIZE);
}

#[test]
fn ttrpc_address_explicit() {
    let mut c = Config::default();
    c.ttrpc.address = "/run/x.ttrpc".into();
    assert_eq!(c.ttrpc_address(), PathBuf::from("/run/x.ttrpc"));
}

#[test]
fn overrides_win() {
    let mut c = Config::default();
    c.apply(&Overrides::default());
    assert_eq!(c, Config::default());
    c.apply(&Overrides {
        root: Some("/r".into()),
        state: Some("/s".into()),
        address: Some("/s/a.sock".into()),
        log_level: Some("debug".into()),
    });
    assert_eq!(c.root, Path::new("/r"));
    assert_eq!(c.state, Path::new("/s"));
    assert_eq!(c.grpc.address, "/s/a.sock");
    assert_eq!(c.debug.level, "debug");
    assert_eq!(c.ttrpc_address(), Path::new("/s/a.sock.ttrpc"));
}

#[test]
fn plugin_lookup_by_version() {
    let mut c = Config::default();
    c.set_plugin_config(
        "io.containerd.gc.v1.scheduler",
        toml::toml! { pause_threshold = 0.02 }.into(),
    );
    c.set_plugin_config("cri", toml::toml! { sandbox_image = "x" }.into());
    assert!(
        c.plugin_config("io.containerd.gc.v1", "scheduler")
            .is_some()
    );
    assert!(c.plugin_config("io.containerd.grpc.v1", "cri").is_none());
    c.version = 1;
    assert!(
        c.plugin_config("io.containerd.gc.v1", "scheduler")
            .is_some()
    );
    assert_eq!(
        c.plugin_config("io.containerd.grpc.v1", "cri")
            .and_then(|v| v.get("sandbox_image")),
        Some(&toml::Value::from("x"))
    );
}

#[test]
fn decode_plugin_config() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Gc {
        pause_threshold: f64,
    }
    let mut c = Config::default();
    assert_eq!(
        c.decode_plugin_config::<Gc>("io.containerd.gc.v1", "scheduler")
            .unwrap(),
        None
    );
    c.set_plugin_config(
        "io.containerd.gc.v1.scheduler",
        toml::toml! { pause_threshold = 0.5 }.into(),
    );
    assert_eq!(
        c.decode_plugin_config::<Gc>("io.containerd.gc.v1", "scheduler")
            .unwrap(),
        Some(Gc {
            pause_threshold: 0.5
        })
    );
    c.set_plugin_config(
        "io.containerd.gc.v1.scheduler",
        toml::toml! { pause_threshold = "x" }.into(),
    );
    let err = c
        .decode_plugin_config::<Gc>("io.containerd.gc.v1", "scheduler")
        .unwrap_err()
        .to_string();
    assert!(err.contains("io.containerd.gc.v1.scheduler"), "{err}");
}

#[test]
fn disabled_and_required_plugins() {
    let mut c = Config {
        disabled_plugins: vec!["io.containerd.snapshotter.v1.btrfs".into(), "zfs".into()],
        required_plugins: vec!["io.containerd.grpc.v1.cri".into()],
        ..Config::default()
    };
    assert!(c.plugin_disabled("io.containerd.snapshotter.v1", "btrfs"));
    assert!(!c.plugin_disabled("io.containerd.snapshotter.v1", "zfs"));
    assert!(c.plugin_required("io.containerd.grpc.v1", "cri"));
    assert!(!c.plugin_required("io.containerd.grpc.v1", "other"));
    c.version = 1;
    assert!(c.plugin_disabled("io.containerd.snapshotter.v1", "zfs"));
}

#[test]
fn default_renders_every_section_and_round_trips() {
    let mut c = Config::default();
    c.set_plugin_config(
        "io.containerd.gc.v1.scheduler",
        toml::toml! {
            pause_threshold = 0.02
            deletion_threshold = 0
            schedule_delay = "0s"
        }
        .into(),
    );
    c.set_plugin_config(
        "io.containerd.grpc.v1.cri",
        toml::toml! {
            sandbox_image = "registry.k8s.io/pause:3.6"
            [containerd.runtimes.runc]
            runtime_type = "io.containerd.runc.v2"
            [containerd.runtimes.runc.options]
            SystemdCgroup = false
        }
        .into(),
    );
    c.timeouts
        .insert("io.containerd.timeout.shim.load".into(), "5s".into());
    c.proxy_plugins.insert(
        "stargz".into(),
        crate::ProxyPlugin {
            type_: "snapshot".into(),
            address: "/run/stargz.sock".into(),
            ..Default::default()
        },
    );
    let text = c.to_toml_string().unwrap();
    for needle in [
        "version = 3",
        "root = \"/var/lib/crated\"",
        "[grpc]",
        "max_recv_message_size = 16777216",
        "[ttrpc]",
        "[debug]",
        "[metrics]",
        "[cgroup]",
        "[plugins.\"io.containerd.gc.v1.scheduler\"]",
        "[proxy_plugins.stargz]",
        "type = \"snapshot\"",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);
    // Stable: rendering again gives the same text.
    assert_eq!(
        Config::from_toml_str(&text)
            .unwrap()
            .to_toml_string()
            .unwrap(),
        text
    );
}
