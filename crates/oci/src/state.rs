//! The spec under construction in plain fields, containerd's defaults,
//! and its conversion into the OCI types.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, Linux, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, LinuxSeccomp, Mount, Process, Root, Spec,
};

use crate::OCI_VERSION;
use crate::error::{Error, Result};
use crate::mounts::default_mounts;
use crate::user::{self, UserDb};

/// The spec under construction, in plain fields.
pub(crate) struct State {
    pub(crate) terminal: bool,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) additional_gids: Option<Vec<u32>>,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) cwd: String,
    pub(crate) capabilities: Vec<String>,
    pub(crate) no_new_privileges: bool,
    pub(crate) root_path: String,
    pub(crate) readonly_root: bool,
    pub(crate) hostname: Option<String>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) annotations: HashMap<String, String>,
    pub(crate) device_rules: Vec<LinuxDeviceCgroup>,
    pub(crate) memory: Option<LinuxMemory>,
    pub(crate) cpu: Option<LinuxCpu>,
    pub(crate) cgroups_path: String,
    pub(crate) namespaces: Vec<LinuxNamespaceType>,
    pub(crate) devices: Vec<LinuxDevice>,
    pub(crate) seccomp: Option<LinuxSeccomp>,
    pub(crate) masked_paths: Option<Vec<String>>,
    pub(crate) readonly_paths: Option<Vec<String>>,
}

impl State {
    /// containerd's default Linux spec with the default devices allowed.
    pub(crate) fn defaults(namespace: &str, id: &str, cgroups_path: Option<String>) -> State {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let mut device_rules = vec![device_rule(false, None, None, None)];
        device_rules.extend(DEFAULT_DEVICES.iter().map(|(major, minor)| {
            device_rule(true, Some(LinuxDeviceType::C), Some(*major), *minor)
        }));
        State {
            terminal: false,
            uid: 0,
            gid: 0,
            additional_gids: None,
            args: Vec::new(),
            env: Vec::new(),
            cwd: "/".to_string(),
            capabilities: strings(crate::caps::DEFAULT),
            no_new_privileges: true,
            root_path: "rootfs".to_string(),
            readonly_root: false,
            hostname: None,
            mounts: default_mounts(),
            annotations: HashMap::new(),
            device_rules,
            memory: None,
            cpu: None,
            cgroups_path: cgroups_path.unwrap_or_else(|| format!("/{namespace}/{id}")),
            namespaces: vec![
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Network,
            ],
            devices: Vec::new(),
            seccomp: None,
            masked_paths: Some(strings(MASKED_PATHS)),
            readonly_paths: Some(strings(READONLY_PATHS)),
        }
    }

    /// `oci.WithAdditionalGIDs(user)`.
    pub(crate) fn set_supplementary(&mut self, db: &UserDb, user: &str) {
        if db.is_empty() {
            return;
        }
        self.additional_gids = Some(user::with_primary(self.gid, db.supplementary_gids(user)));
    }

    /// `oci.WithWriteableSysfs` / `WithWriteableCgroupfs`.
    pub(crate) fn writable_fs(&mut self, fs_type: &str) {
        for mount in &mut self.mounts {
            if mount.typ().as_deref() == Some(fs_type)
                && let Some(options) = mount.options_mut()
            {
                for option in options.iter_mut() {
                    if option == "ro" {
                        *option = "rw".to_string();
                    }
                }
            }
        }
    }

    pub(crate) fn into_spec(self) -> Result<Spec> {
        let capabilities: Vec<String> = self
            .capabilities
            .into_iter()
            .filter(|name| capability(name).is_some())
            .collect();
        let mut process: Process = empty(serde_json::json!({
            "user": {"uid": self.uid, "gid": self.gid},
            "cwd": self.cwd,
            "capabilities": {
                "bounding": capabilities,
                "effective": capabilities,
                "permitted": capabilities,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        }))?;
        process.user_mut().set_additional_gids(self.additional_gids);
        process.set_terminal(self.terminal.then_some(true));
        process.set_args((!self.args.is_empty()).then_some(self.args));
        process.set_env((!self.env.is_empty()).then_some(self.env));
        process.set_no_new_privileges(self.no_new_privileges.then_some(true));

        let mut root: Root = empty(serde_json::json!({"path": self.root_path}))?;
        root.set_readonly(self.readonly_root.then_some(true));

        let mut resources: LinuxResources = empty(serde_json::json!({}))?;
        resources.set_devices(Some(self.device_rules));
        resources.set_memory(self.memory);
        resources.set_cpu(self.cpu);
        let mut namespaces = Vec::with_capacity(self.namespaces.len());
        for typ in self.namespaces {
            let mut ns: LinuxNamespace = empty(serde_json::json!({"type": "pid"}))?;
            ns.set_typ(typ);
            namespaces.push(ns);
        }
        let mut linux: Linux = empty(serde_json::json!({}))?;
        linux.set_resources(Some(resources));
        linux.set_cgroups_path(Some(PathBuf::from(self.cgroups_path)));
        linux.set_namespaces(Some(namespaces));
        linux.set_devices((!self.devices.is_empty()).then_some(self.devices));
        linux.set_seccomp(self.seccomp);
        linux.set_masked_paths(self.masked_paths);
        linux.set_readonly_paths(self.readonly_paths);

        let mut spec: Spec = empty(serde_json::json!({"ociVersion": OCI_VERSION}))?;
        spec.set_process(Some(process));
        spec.set_root(Some(root));
        spec.set_mounts(Some(self.mounts));
        spec.set_hostname(self.hostname);
        spec.set_annotations((!self.annotations.is_empty()).then_some(self.annotations));
        spec.set_linux(Some(linux));
        Ok(spec)
    }
}

/// An OCI type from minimal JSON, so that every field left out is unset
/// (the types' `Default` impls fill in youki's defaults instead).
fn empty<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> Result<T> {
    serde_json::from_value(json)
        .map_err(|e| Error::InvalidArgument(format!("building the runtime spec: {e}")))
}

/// A capability by its name (`CAP_…`); `None` for one the OCI types do not
/// know.
fn capability(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// The character devices containerd allows by default
/// (`oci.WithDefaultUnixDevices`): null, random, full, tty, zero, urandom,
/// console, the pts range and ptmx.
const DEFAULT_DEVICES: &[(i64, Option<i64>)] = &[
    (1, Some(3)),
    (1, Some(8)),
    (1, Some(7)),
    (5, Some(0)),
    (1, Some(5)),
    (1, Some(9)),
    (5, Some(1)),
    (136, None),
    (5, Some(2)),
];

/// containerd's masked paths.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// containerd's read-only paths.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub(crate) fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow);
    rule.set_typ(typ);
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some("rwm".to_string()));
    rule
}

pub(crate) fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| (*o).to_string()).collect()));
    m
}

pub(crate) fn bind_mount(source: &str, destination: &str) -> Mount {
    mount(destination, "bind", source, &["rbind", "ro"])
}
