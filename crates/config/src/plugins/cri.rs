//! `[plugins."io.containerd.grpc.v1.cri"]`: the Kubernetes CRI plugin's
//! options, with containerd 1.6/1.7's keys (config version 2) and defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PluginConfig;

/// containerd's default pause image.
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.8";
/// The runtime handler used when a pod names none.
pub const DEFAULT_RUNTIME_NAME: &str = "runc";
/// The runtime type of the built-in `runc` handler.
pub const DEFAULT_RUNTIME_TYPE: &str = "io.containerd.runc.v2";

/// The CRI plugin's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CriConfig {
    /// The pause image every pod sandbox runs.
    pub sandbox_image: String,
    /// Address the streaming server (exec, attach, port-forward) binds.
    pub stream_server_address: String,
    /// Port the streaming server binds (`0`: any free port).
    pub stream_server_port: String,
    /// Longest a streaming connection may stay idle (Go duration).
    pub stream_idle_timeout: String,
    /// Serve the streaming server over TLS.
    pub enable_tls_streaming: bool,
    /// Longest line of a container log before it is split (bytes; -1: no limit).
    pub max_container_log_line_size: i64,
    /// Never give a container an OOM score below the daemon's own.
    pub restrict_oom_score_adj: bool,
    /// Apply SELinux labels to containers.
    pub enable_selinux: bool,
    /// Never apply AppArmor profiles.
    pub disable_apparmor: bool,
    /// Resolve CDI device requests.
    pub enable_cdi: bool,
    /// Directories holding CDI specs.
    pub cdi_spec_dirs: Vec<String>,
    /// Give devices the owner of the container's security context.
    pub device_ownership_from_security_context: bool,
    /// Let unprivileged containers bind ports below 1024.
    pub enable_unprivileged_ports: bool,
    /// Let unprivileged containers open ICMP sockets.
    pub enable_unprivileged_icmp: bool,
    /// Run without a hugetlb cgroup controller.
    pub tolerate_missing_hugetlb_controller: bool,
    /// Ignore the volumes an image declares.
    pub ignore_image_defined_volumes: bool,
    /// Use the systemd cgroup driver (deprecated in containerd: per runtime).
    pub systemd_cgroup: bool,
    /// Container runtime settings.
    pub containerd: ContainerdSection,
    /// CNI networking.
    pub cni: CniSection,
    /// Registry access.
    pub registry: RegistrySection,
}

impl Default for CriConfig {
    fn default() -> Self {
        CriConfig {
            sandbox_image: DEFAULT_SANDBOX_IMAGE.into(),
            stream_server_address: "127.0.0.1".into(),
            stream_server_port: "0".into(),
            stream_idle_timeout: "4h0m0s".into(),
            enable_tls_streaming: false,
            max_container_log_line_size: 16 * 1024,
            restrict_oom_score_adj: false,
            enable_selinux: false,
            disable_apparmor: false,
            enable_cdi: false,
            cdi_spec_dirs: vec!["/etc/cdi".into(), "/var/run/cdi".into()],
            device_ownership_from_security_context: false,
            enable_unprivileged_ports: false,
            enable_unprivileged_icmp: false,
            tolerate_missing_hugetlb_controller: true,
            ignore_image_defined_volumes: false,
            systemd_cgroup: false,
            containerd: ContainerdSection::default(),
            cni: CniSection::default(),
            registry: RegistrySection::default(),
        }
    }
}

impl PluginConfig for CriConfig {
    fn inert_warnings(&self) -> Vec<String> {
        self.inert_keys()
    }
}

/// `[plugins."io.containerd.grpc.v1.cri".containerd]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerdSection {
    /// Snapshotter images are unpacked into and containers run on.
    pub snapshotter: String,
    /// The runtime handler for pods that name none.
    pub default_runtime_name: String,
    /// Runtime handlers by name (`runc` is always there unless replaced).
    pub runtimes: BTreeMap<String, RuntimeHandler>,
    /// Drop compressed layers once unpacked.
    pub discard_unpacked_layers: bool,
    /// Do not pass snapshot annotations to remote snapshotters.
    pub disable_snapshot_annotations: bool,
}

impl Default for ContainerdSection {
    fn default() -> Self {
        ContainerdSection {
            snapshotter: "overlayfs".into(),
            default_runtime_name: DEFAULT_RUNTIME_NAME.into(),
            // Empty so the config check treats runtime names as free-form;
            // `runtime()` supplies the built-in `runc`.
            runtimes: BTreeMap::new(),
            discard_unpacked_layers: false,
            disable_snapshot_annotations: true,
        }
    }
}

/// One runtime handler, `[...containerd.runtimes.<name>]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeHandler {
    /// The runtime v2 name, e.g. `io.containerd.runc.v2`.
    pub runtime_type: String,
    /// The shim binary, when not found from `runtime_type`.
    pub runtime_path: String,
    /// Pod annotations passed to the runtime.
    pub pod_annotations: Vec<String>,
    /// Container annotations passed to the runtime.
    pub container_annotations: Vec<String>,
    /// Privileged containers do not get the host's devices.
    pub privileged_without_host_devices: bool,
    /// A spec file containers start from.
    pub base_runtime_spec: String,
    /// A CNI config directory for pods of this handler.
    pub cni_conf_dir: String,
    /// How many CNI configs of that directory are used.
    pub cni_max_conf_num: i64,
    /// The snapshotter for this handler's pods.
    pub snapshotter: String,
    /// The sandbox implementation (`podsandbox`).
    pub sandbox_mode: String,
    /// The runtime's own options (runc: `SystemdCgroup`, `BinaryName`, …).
    pub options: toml::Table,
}

/// `[plugins."io.containerd.grpc.v1.cri".cni]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CniSection {
    /// Directory of CNI plugin binaries.
    pub bin_dir: String,
    /// More directories of plugin binaries, searched after `bin_dir`.
    pub bin_dirs: Vec<String>,
    /// Directory of network configurations.
    pub conf_dir: String,
    /// How many configurations of `conf_dir` are used (0: all).
    pub max_conf_num: i64,
    /// A template written to `conf_dir` once the pod CIDR is known.
    pub conf_template: String,
    /// Which address family a pod's primary IP comes from.
    pub ip_pref: String,
}

impl Default for CniSection {
    fn default() -> Self {
        CniSection {
            bin_dir: "/opt/cni/bin".into(),
            bin_dirs: Vec::new(),
            conf_dir: "/etc/cni/net.d".into(),
            max_conf_num: 1,
            conf_template: String::new(),
            ip_pref: String::new(),
        }
    }
}

/// `[plugins."io.containerd.grpc.v1.cri".registry]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrySection {
    /// Directory of `hosts.toml` files per registry host.
    pub config_path: String,
    /// Legacy mirrors per registry host (free-form).
    pub mirrors: toml::Table,
    /// Legacy auth and TLS settings per registry host (free-form).
    pub configs: toml::Table,
}

impl CriConfig {
    /// The runtime handler `name` (the default handler when empty): the
    /// configured one, or containerd's built-in `runc`; `None` when the
    /// config has no such handler.
    pub fn runtime(&self, name: &str) -> Option<RuntimeHandler> {
        let name = if name.is_empty() {
            self.containerd.default_runtime_name.as_str()
        } else {
            name
        };
        match self.containerd.runtimes.get(name) {
            Some(handler) => {
                let mut handler = handler.clone();
                if handler.runtime_type.is_empty() {
                    handler.runtime_type = DEFAULT_RUNTIME_TYPE.into();
                }
                Some(handler)
            }
            None if name == DEFAULT_RUNTIME_NAME => Some(RuntimeHandler {
                runtime_type: DEFAULT_RUNTIME_TYPE.into(),
                ..RuntimeHandler::default()
            }),
            None => None,
        }
    }

    /// The CNI plugin directories, `bin_dir` first.
    pub fn cni_bin_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = std::iter::once(self.cni.bin_dir.clone())
            .filter(|d| !d.is_empty())
            .collect();
        dirs.extend(self.cni.bin_dirs.iter().cloned());
        dirs
    }

    /// One sentence for each key that is set to something other than its
    /// default and that crated reads but does not act on yet.
    fn inert_keys(&self) -> Vec<String> {
        let d = CriConfig::default();
        let mut out = Vec::new();
        let mut note = |set: bool, key: &str| {
            if set {
                out.push(format!(
                    "[plugins.\"io.containerd.grpc.v1.cri\"] {key} is set but crated's CRI plugin \
                     does not act on it yet; the default behaviour applies"
                ));
            }
        };
        note(self.enable_tls_streaming, "enable_tls_streaming");
        note(self.enable_selinux, "enable_selinux");
        note(self.enable_cdi, "enable_cdi");
        note(self.cdi_spec_dirs != d.cdi_spec_dirs, "cdi_spec_dirs");
        note(
            self.device_ownership_from_security_context,
            "device_ownership_from_security_context",
        );
        note(self.systemd_cgroup, "systemd_cgroup");
        note(
            self.containerd.discard_unpacked_layers,
            "containerd.discard_unpacked_layers",
        );
        note(
            self.containerd.disable_snapshot_annotations
                != d.containerd.disable_snapshot_annotations,
            "containerd.disable_snapshot_annotations",
        );
        note(!self.cni.conf_template.is_empty(), "cni.conf_template");
        note(!self.cni.ip_pref.is_empty(), "cni.ip_pref");
        for (name, h) in &self.containerd.runtimes {
            let key = |k: &str| format!("containerd.runtimes.{name:?}.{k}");
            note(!h.runtime_path.is_empty(), &key("runtime_path"));
            note(!h.pod_annotations.is_empty(), &key("pod_annotations"));
            note(
                !h.container_annotations.is_empty(),
                &key("container_annotations"),
            );
            note(
                h.privileged_without_host_devices,
                &key("privileged_without_host_devices"),
            );
            note(!h.base_runtime_spec.is_empty(), &key("base_runtime_spec"));
            note(!h.cni_conf_dir.is_empty(), &key("cni_conf_dir"));
            note(!h.snapshotter.is_empty(), &key("snapshotter"));
        }
        if !self.registry.config_path.is_empty() && !self.registry.mirrors.is_empty() {
            out.push(
                "[plugins.\"io.containerd.grpc.v1.cri\"] registry.mirrors is ignored because \
                 registry.config_path is set (containerd refuses the two together); move the \
                 mirrors into hosts.toml files under config_path"
                    .to_string(),
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
    fn reads_containerd_v2_keys() {
        let c: CriConfig = toml::from_str(
            r#"
            sandbox_image = "localhost/pause:1"
            max_container_log_line_size = 100
            [containerd]
              snapshotter = "native"
              default_runtime_name = "crun"
              [containerd.runtimes.crun]
                runtime_type = "io.containerd.crun.v1"
                [containerd.runtimes.crun.options]
                  SystemdCgroup = false
            [cni]
              bin_dir = "/usr/lib/cni"
              bin_dirs = ["/opt/x"]
              conf_dir = "/tmp/net.d"
            "#,
        )
        .unwrap();
        assert_eq!(c.sandbox_image, "localhost/pause:1");
        assert_eq!(c.max_container_log_line_size, 100);
        assert_eq!(c.containerd.snapshotter, "native");
        let crun = c.runtime("").unwrap();
        assert_eq!(crun.runtime_type, "io.containerd.crun.v1");
        assert_eq!(crun.options["SystemdCgroup"].as_bool(), Some(false));
        assert_eq!(
            c.runtime("runc").unwrap().runtime_type,
            DEFAULT_RUNTIME_TYPE
        );
        assert!(c.runtime("kata").is_none());
        assert_eq!(c.cni_bin_dirs(), vec!["/usr/lib/cni", "/opt/x"]);
        assert_eq!(c.cni.max_conf_num, 1);
    }

    #[test]
    fn defaults_warn_about_nothing_and_inert_keys_are_named() {
        assert!(CriConfig::default().inert_warnings().is_empty());
        let c: CriConfig = toml::from_str(
            "enable_selinux = true\n[registry]\nconfig_path = \"/etc/x\"\n[registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m\"]\n[containerd.runtimes.k]\nruntime_path = \"/bin/k\"\n",
        )
        .unwrap();
        let w = c.inert_warnings();
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(w[0].contains("enable_selinux"), "{w:#?}");
        assert!(w[1].contains("runtimes.\"k\".runtime_path"), "{w:#?}");
        assert!(w[2].contains("registry.mirrors is ignored"), "{w:#?}");
    }
}
