//! Keys crated reads but does not act on, said out loud: each one set in
//! the config becomes a startup warning naming the key and what crated
//! does instead. And the `[timeouts]` crated honours.

use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::model::Config;

/// containerd's timeout for connecting to a shim (crated: connecting to a
/// new or recovered shim's socket).
pub const TIMEOUT_SHIM_LOAD: &str = "io.containerd.timeout.shim.load";
/// containerd's timeout for a shim's `Shutdown` call.
pub const TIMEOUT_SHIM_SHUTDOWN: &str = "io.containerd.timeout.shim.shutdown";
/// containerd's timeout for cleaning up after a shim (crated: the shim
/// binary's `delete` invocation).
pub const TIMEOUT_SHIM_CLEANUP: &str = "io.containerd.timeout.shim.cleanup";
/// The `[timeouts]` keys crated acts on.
pub const HONOURED_TIMEOUTS: [&str; 3] = [
    TIMEOUT_SHIM_LOAD,
    TIMEOUT_SHIM_SHUTDOWN,
    TIMEOUT_SHIM_CLEANUP,
];

impl Config {
    /// The `[timeouts]` entry `key` as a duration; `None` when absent.
    pub fn timeout(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        self.timeouts
            .get(key)
            .map(|text| {
                parse_duration(text).map_err(|source| ConfigError::Timeout {
                    key: key.to_owned(),
                    source,
                })
            })
            .transpose()
    }

    /// One warning for each key that is set and that crated does not act
    /// on, naming the key and what crated does instead.
    pub fn inert_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |set: bool, key: &str, instead: String| {
            if set {
                out.push(format!("{key} is set but {instead}"));
            }
        };
        note(
            !self.plugin_dir.is_empty(),
            "plugin_dir",
            format!(
                "crated cannot load Go plugins; nothing is loaded from {:?}",
                self.plugin_dir
            ),
        );
        note(
            !self.temp.is_empty(),
            "temp",
            "crated does not use it; temporary files go to the plugins' own directories".into(),
        );
        let g = &self.grpc;
        note(
            !g.tcp_address.is_empty(),
            "[grpc] tcp_address",
            format!(
                "crated serves gRPC only on the unix socket {:?}; nothing listens on {:?}",
                g.address, g.tcp_address
            ),
        );
        for (key, value) in [
            ("tcp_tls_ca", &g.tcp_tls_ca),
            ("tcp_tls_cert", &g.tcp_tls_cert),
            ("tcp_tls_key", &g.tcp_tls_key),
        ] {
            note(
                !value.is_empty(),
                &format!("[grpc] {key}"),
                "crated has no TCP listener to use it on".into(),
            );
        }
        let d = &self.debug;
        note(
            !d.address.is_empty(),
            "[debug] address",
            format!(
                "crated does not serve the debug endpoints yet; nothing listens on {:?}",
                d.address
            ),
        );
        note(
            d.address.is_empty() && (d.uid != 0 || d.gid != 0),
            "[debug] uid/gid",
            "there is no debug socket to own".into(),
        );
        for (name, p) in &self.proxy_plugins {
            note(
                true,
                &format!("[proxy_plugins.{name:?}]"),
                format!(
                    "crated does not load proxy plugins yet; the {:?} plugin at {:?} is not \
                     available",
                    p.type_, p.address
                ),
            );
        }
        for (id, p) in &self.stream_processors {
            note(
                true,
                &format!("[stream_processors.{id:?}]"),
                format!(
                    "crated runs no stream processors; layers of media types {:?} cannot be \
                     unpacked",
                    p.accepts
                ),
            );
        }
        for key in self.timeouts.keys() {
            note(
                !HONOURED_TIMEOUTS.contains(&key.as_str()),
                &format!("[timeouts] {key:?}"),
                format!(
                    "crated has no such timeout (it honours {})",
                    HONOURED_TIMEOUTS.join(", ")
                ),
            );
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_warn_about_nothing() {
        assert_eq!(Config::default().inert_warnings(), Vec::<String>::new());
    }

    #[test]
    fn metrics_keys_are_acted_on() {
        let config = Config::from_toml_str(
            "version = 2\n[metrics]\naddress = \"127.0.0.1:1338\"\ngrpc_histogram = true\n",
        )
        .unwrap();
        assert_eq!(config.metrics.address, "127.0.0.1:1338");
        assert_eq!(config.inert_warnings(), Vec::<String>::new());
    }

    #[test]
    fn every_inert_key_is_named() {
        let config = Config::from_toml_str(
            r#"
            version = 2
            plugin_dir = "/opt/plugins"
            [grpc]
            tcp_address = "0.0.0.0:1234"
            [debug]
            address = "/run/containerd/debug.sock"
            [proxy_plugins.stargz]
            type = "snapshot"
            address = "/run/stargz.sock"
            [stream_processors."io.containerd.ocicrypt.decoder.v1.tar"]
            accepts = ["application/vnd.oci.image.layer.v1.tar+encrypted"]
            [timeouts]
            "io.containerd.timeout.shim.load" = "5s"
            "io.containerd.timeout.task.state" = "2s"
            "#,
        )
        .unwrap();
        let warnings = config.inert_warnings();
        for key in [
            "plugin_dir",
            "[grpc] tcp_address",
            "[debug] address",
            "[proxy_plugins.\"stargz\"]",
            "[stream_processors.\"io.containerd.ocicrypt.decoder.v1.tar\"]",
            "[timeouts] \"io.containerd.timeout.task.state\"",
        ] {
            assert!(
                warnings.iter().any(|w| w.starts_with(key)),
                "{key}: {warnings:#?}"
            );
        }
        assert_eq!(warnings.len(), 6, "{warnings:#?}");
        assert_eq!(
            config.timeout(TIMEOUT_SHIM_LOAD).unwrap(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(config.timeout(TIMEOUT_SHIM_SHUTDOWN).unwrap(), None);
    }

    #[test]
    fn malformed_timeouts_are_errors() {
        let config =
            Config::from_toml_str("[timeouts]\n\"io.containerd.timeout.shim.load\" = \"5\"\n")
                .unwrap();
        let err = config.timeout(TIMEOUT_SHIM_LOAD).err().unwrap();
        assert!(err.to_string().contains("shim.load"), "{err}");
    }
}
