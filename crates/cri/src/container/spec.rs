//! The OCI runtime spec of a CRI container: crated-oci's default spec
//! (`SpecBuilder`) with the CRI's options on top, in the order
//! containerd's CRI plugin applies them (`containerSpec` and
//! `containerSpecOpts` of containerd 1.7).

use std::collections::HashMap;

use crated_api::cri::{ContainerConfig, LinuxContainerSecurityContext, Mount};
use crated_oci::{DEFAULT_PATH_ENV, Host, ImageConfig, OciSpec, SpecBuilder, UserDb};
use serde_json::Value;

use super::pod::PodContext;
use super::resources::{self, ResourceHost};
use super::{mounts, security};
use crate::error::{Error, Result};

/// The containerd namespace CRI objects live in.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// Everything a container's spec is made of besides its pod.
#[derive(Debug, Clone)]
pub struct ContainerInput<'a> {
    /// The container id.
    pub id: &'a str,
    /// The CRI's container config.
    pub config: &'a ContainerConfig,
    /// The image's config.
    pub image: &'a ImageConfig,
    /// The image reference the container was created from.
    pub image_name: &'a str,
    /// The image root filesystem's users and groups.
    pub users: UserDb,
    /// The image volumes' mounts ([`mounts::image_volume_mounts`]).
    pub volume_mounts: Vec<Mount>,
    /// The pid of the container whose PID namespace a `TARGET` container joins.
    pub target_pid: Option<u32>,
}

/// Settings and host facts the spec depends on.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// `restrict_oom_score_adj`: never below the daemon's own score.
    pub restrict_oom_score_adj: bool,
    /// The daemon's own `oom_score_adj`.
    pub current_oom_score_adj: i64,
    /// cgroup v2 (unified): containers get a cgroup namespace.
    pub cgroup_v2: bool,
    /// Kernel 4.8+: the default seccomp profile allows `ptrace`.
    pub kernel_has_safe_ptrace: bool,
    /// AppArmor is enabled on the host.
    pub apparmor: bool,
    /// Swap and hugetlb facts.
    pub resources: ResourceHost,
    /// `device_ownership_from_security_context`.
    pub device_ownership_from_security_context: bool,
    /// Pod annotation patterns passed through to the spec
    /// (`runtimes.<name>.pod_annotations`).
    pub pod_annotations: Vec<String>,
    /// Container annotation patterns passed through
    /// (`runtimes.<name>.container_annotations`).
    pub container_annotations: Vec<String>,
    /// The host's name, used when the pod has none.
    pub host_hostname: String,
    /// Privileged containers' capabilities and devices; probed when `None`.
    pub host: Option<Host>,
}

impl SpecOptions {
    /// Reads the host facts of this machine; settings stay off.
    pub fn probe() -> SpecOptions {
        let exists = |p: &str| std::path::Path::new(p).exists();
        let cgroup_v2 = exists("/sys/fs/cgroup/cgroup.controllers");
        let controllers =
            std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        SpecOptions {
            cgroup_v2,
            kernel_has_safe_ptrace: true,
            apparmor: std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|s| s.trim() == "Y"),
            resources: ResourceHost {
                swap: if cgroup_v2 {
                    exists("/sys/fs/cgroup/memory.swap.max")
                        || exists("/sys/fs/cgroup/init.scope/memory.swap.max")
                } else {
                    exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
                },
                hugetlb: if cgroup_v2 {
                    controllers.split_whitespace().any(|c| c == "hugetlb")
                } else {
                    exists("/sys/fs/cgroup/hugetlb")
                },
                tolerate_missing_hugetlb: false,
            },
            current_oom_score_adj: resources::current_oom_score_adj().unwrap_or(0),
            // Without CAP_SYS_RESOURCE (a daemon in a container) no score
            // can go below the daemon's own: restrict as containerd's
            // `restrict_oom_score_adj` does, or every start would fail.
            restrict_oom_score_adj: crated_oci::current_capabilities()
                .is_ok_and(|caps| !caps.iter().any(|c| c == "CAP_SYS_RESOURCE")),
            host_hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ..SpecOptions::default()
        }
    }
}

/// The process arguments: the CRI's command and args, falling back to
/// the image's entrypoint and cmd the way docker does (containerd's
/// `WithProcessArgs`).
pub fn process_args(config: &ContainerConfig, image: &ImageConfig) -> Result<Vec<String>> {
    let mut command = config.command.clone();
    let mut args = config.args.clone();
    if command.is_empty() {
        if args.is_empty() {
            args = image.cmd.clone().unwrap_or_default();
        }
        let entrypoint = image.entrypoint.clone().unwrap_or_default();
        if !(entrypoint.len() == 1 && entrypoint[0].is_empty()) {
            command = entrypoint;
        }
    }
    command.extend(args);
    if command.is_empty() {
        return Err(Error::InvalidArgument(
            "no command specified: set command or args, or use an image with an entrypoint or cmd"
                .into(),
        ));
    }
    Ok(command)
}

/// The environment: `PATH`, `HOSTNAME`, the image's, then the CRI's,
/// later ones replacing earlier ones of the same name.
fn environment(config: &ContainerConfig, image: &ImageConfig, hostname: &str) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    env.extend(image.env.clone().unwrap_or_default());
    env.extend(
        config
            .envs
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value)),
    );
    env
}

/// Whether `key` matches a pass-through pattern (`*` matches any run).
fn matches(pattern: &str, key: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == key;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !key.starts_with(first) || key.len() < first.len() + last.len() || !key.ends_with(last) {
        return false;
    }
    let mut rest = &key[first.len()..key.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The annotations crated's CRI puts on every container's spec, as
/// containerd names them, plus the configured pass-throughs.
fn annotations(
    pod: &PodContext,
    input: &ContainerInput<'_>,
    options: &SpecOptions,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut pass = |from: &HashMap<String, String>, patterns: &[String]| {
        for (k, v) in from {
            if patterns.iter().any(|p| matches(p, k)) {
                out.insert(k.clone(), v.clone());
            }
        }
    };
    pass(&pod.annotations, &options.pod_annotations);
    pass(&input.config.annotations, &options.container_annotations);
    let name = input
        .config
        .metadata
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    for (k, v) in [
        ("io.kubernetes.cri.container-type", "container".to_string()),
        ("io.kubernetes.cri.sandbox-id", pod.sandbox_id.clone()),
        (
            "io.kubernetes.cri.sandbox-namespace",
            pod.pod_namespace.clone(),
        ),
        ("io.kubernetes.cri.sandbox-uid", pod.pod_uid.clone()),
        ("io.kubernetes.cri.sandbox-name", pod.pod_name.clone()),
        ("io.kubernetes.cri.container-name", name),
        ("io.kubernetes.cri.image-name", input.image_name.to_string()),
    ] {
        out.insert(k.to_string(), v);
    }
    out
}

fn security_context(config: &ContainerConfig) -> Option<&LinuxContainerSecurityContext> {
    config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
}

/// Builds the spec of the container `input` describes in `pod`.
pub fn container_spec(
    pod: &PodContext,
    input: &ContainerInput<'_>,
    options: &SpecOptions,
) -> Result<OciSpec> {
    let config = input.config;
    let sc = security_context(config);
    let privileged = sc.is_some_and(|s| s.privileged);
    if privileged && !pod.privileged() {
        return Err(Error::InvalidArgument(
            "no privileged container allowed in sandbox: make the pod privileged too".into(),
        ));
    }
    let hostname = if pod.hostname.is_empty() {
        &options.host_hostname
    } else {
        &pod.hostname
    };
    let cwd = if !config.working_dir.is_empty() {
        Some(config.working_dir.clone())
    } else if !input.image.working_dir.is_empty() {
        Some(input.image.working_dir.clone())
    } else {
        None
    };
    let mut builder = SpecBuilder::new(K8S_NAMESPACE, input.id)
        .rootfs_path("rootfs")
        .args(process_args(config, input.image)?)
        .env(environment(config, input.image, hostname))
        .tty(config.tty)
        .privileged(privileged)
        .readonly_rootfs(sc.is_some_and(|s| s.readonly_rootfs))
        .no_new_privileges(sc.is_some_and(|s| s.no_new_privs))
        .annotations(annotations(pod, input, options))
        .user_db(input.users.clone());
    if let Some(cwd) = cwd {
        builder = builder.cwd(cwd);
    }
    if let Some(user) = security::user_string(sc, input.image)? {
        builder = builder.user(user);
    }
    if let Some(host) = &options.host {
        builder = builder.host(host.clone());
    }
    if !pod.cgroup_parent.is_empty() {
        builder = builder.cgroups_path(resources::cgroups_path(&pod.cgroup_parent, input.id));
    }
    let base = builder.build()?;
    let mut spec = serde_json::to_value(&base)
        .map_err(|e| Error::InvalidArgument(format!("encoding a spec: {e}")))?;
    cri_edits(&mut spec, pod, input, options, privileged)?;
    let spec: OciSpec = serde_json::from_value(spec).map_err(|e| {
        Error::InvalidArgument(format!(
            "container {}: the generated spec is invalid: {e}",
            input.id
        ))
    })?;
    Ok(spec)
}

/// The CRI's options over the base spec.
fn cri_edits(
    spec: &mut Value,
    pod: &PodContext,
    input: &ContainerInput<'_>,
    options: &SpecOptions,
    privileged: bool,
) -> Result<()> {
    let config = input.config;
    let sc = security_context(config);
    let mut all = config.mounts.clone();
    all.extend(mounts::pod_mounts(pod, config));
    all.extend(input.volume_mounts.iter().cloned());
    mounts::apply(spec, all)?;
    security::apply_paths(spec, sc, privileged);
    if !privileged {
        security::apply_capabilities(spec, sc);
    } else if let Some(obj) = spec["process"]["capabilities"].as_object_mut() {
        obj.remove("ambient");
    }
    let uid = spec["process"]["user"]["uid"].as_u64().unwrap_or(0);
    let gid = spec["process"]["user"]["gid"].as_u64().unwrap_or(0);
    let owner = options
        .device_ownership_from_security_context
        .then_some((uid, gid));
    resources::apply_devices(spec, &config.devices, owner)?;
    if let Some(res) = config.linux.as_ref().and_then(|l| l.resources.as_ref()) {
        resources::apply_resources(spec, res, &options.resources)?;
        resources::apply_oom_score_adj(
            spec,
            res,
            options.restrict_oom_score_adj,
            options.current_oom_score_adj,
        );
    }
    security::apply_namespaces(spec, pod, sc, input.target_pid, options.cgroup_v2);
    security::apply_groups(spec, sc, input.image, &input.users)?;
    security::apply_seccomp(
        spec,
        sc.and_then(|s| s.seccomp.as_ref()),
        privileged,
        options.kernel_has_safe_ptrace,
    )?;
    security::apply_apparmor(spec, sc.and_then(|s| s.apparmor.as_ref()), options.apparmor)?;
    if let Some(obj) = spec["process"].as_object_mut() {
        obj.remove("rlimits");
    }
    if !spec["process"]["noNewPrivileges"]
        .as_bool()
        .unwrap_or(false)
        && let Some(obj) = spec["process"].as_object_mut()
    {
        obj.remove("noNewPrivileges");
    }
    Ok(())
}
