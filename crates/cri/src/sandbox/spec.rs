//! The pause container's runtime spec, as containerd's CRI builds it: the
//! image's command, env and working directory, a read-only root, the pod's
//! hostname, its own network namespace (the pinned one) unless the pod uses
//! the host's, IPC and PID namespaces per the pod's namespace options, the
//! pod's `/dev/shm`, sysctls, user, seccomp, a low OOM score and minimal
//! CPU shares.

use std::path::Path;

use crated_oci::{ImageConfig, OciSpec, SpecBuilder};
use serde_json::{Value, json};

use super::SandboxMeta;
use crate::container::spec::K8S_NAMESPACE;
use crate::container::{SpecOptions, cgroups_path};
use crate::error::{Error, Result};

/// The pause container's OOM score adjustment (containerd's -998).
const SANDBOX_OOM_SCORE_ADJ: i64 = -998;
/// The pause container's CPU shares (containerd's 2).
const SANDBOX_CPU_SHARES: u64 = 2;

/// Builds the pause container's spec for `meta` from the sandbox image's
/// `image` config; `shm` is the pod's `/dev/shm` source.
pub(super) fn sandbox_spec(
    meta: &SandboxMeta,
    image: &ImageConfig,
    image_name: &str,
    shm: &Path,
    options: &SpecOptions,
) -> Result<OciSpec> {
    let mut args: Vec<String> = image.entrypoint.clone().unwrap_or_default();
    args.extend(image.cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "sandbox image {image_name:?} has no command (Entrypoint and Cmd are empty): \
             set sandbox_image to a pause image"
        )));
    }
    let pod = meta.pod_metadata();
    let sc = meta.security_context();
    let mut builder = SpecBuilder::new(K8S_NAMESPACE, &meta.id)
        .rootfs_path("rootfs")
        .args(args)
        .env(image.env.clone().unwrap_or_default())
        .readonly_rootfs(true)
        .no_new_privileges(false)
        .cpu_shares(SANDBOX_CPU_SHARES)
        .annotations(
            [
                ("io.kubernetes.cri.container-type", "sandbox".to_string()),
                ("io.kubernetes.cri.sandbox-id", meta.id.clone()),
                ("io.kubernetes.cri.sandbox-name", pod.name.clone()),
                ("io.kubernetes.cri.sandbox-namespace", pod.namespace.clone()),
                ("io.kubernetes.cri.sandbox-uid", pod.uid.clone()),
                (
                    "io.kubernetes.cri.sandbox-log-directory",
                    meta.config.log_directory.clone(),
                ),
                ("io.kubernetes.cri.image-name", image_name.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
    // A host-network pod shares the host's UTS namespace: its hostname is
    // the host's (kubelet sends none for it).
    if !meta.hostname.is_empty() && !meta.host_network() {
        builder = builder.hostname(meta.hostname.clone());
    }
    if !image.working_dir.is_empty() {
        builder = builder.cwd(image.working_dir.clone());
    }
    let uid = sc.and_then(|s| s.run_as_user.as_ref()).map(|v| v.value);
    let gid = sc.and_then(|s| s.run_as_group.as_ref()).map(|v| v.value);
    match (uid, gid) {
        (Some(u), Some(g)) => builder = builder.user(format!("{u}:{g}")),
        (Some(u), None) => builder = builder.user(u.to_string()),
        _ => {}
    }
    let parent = meta.cgroup_parent();
    if !parent.is_empty() {
        builder = builder.cgroups_path(cgroups_path(&parent, &meta.id));
    }
    if let Some(host) = &options.host {
        builder = builder.host(host.clone());
    }
    let base = builder.build()?;
    let mut spec = serde_json::to_value(&base)
        .map_err(|e| Error::InvalidArgument(format!("encoding the sandbox spec: {e}")))?;
    edits(&mut spec, meta, shm, options)?;
    serde_json::from_value(spec).map_err(|e| {
        Error::InvalidArgument(format!(
            "sandbox {}: the generated spec is invalid: {e}",
            meta.id
        ))
    })
}

/// The pod's namespaces, mounts, sysctls and limits over the base spec.
fn edits(spec: &mut Value, meta: &SandboxMeta, shm: &Path, options: &SpecOptions) -> Result<()> {
    let ns = meta.namespace_options();
    let node = crated_api::cri::NamespaceMode::Node as i32;
    let mut namespaces: Vec<Value> = spec["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut drop = Vec::new();
    if meta.host_network() {
        drop.extend(["network", "uts"]);
    }
    if ns.pid == node {
        drop.push("pid");
    }
    if ns.ipc == node {
        drop.push("ipc");
    }
    namespaces.retain(|n| !drop.iter().any(|d| n["type"] == *d));
    for required in ["pid", "network", "ipc", "uts", "mount"] {
        if !drop.contains(&required) && !namespaces.iter().any(|n| n["type"] == required) {
            namespaces.push(json!({"type": required}));
        }
    }
    if let Some(path) = &meta.netns_path {
        for n in namespaces.iter_mut().filter(|n| n["type"] == "network") {
            n["path"] = json!(path);
        }
    }
    spec["linux"]["namespaces"] = Value::Array(namespaces);

    let mut mounts: Vec<Value> = spec["mounts"].as_array().cloned().unwrap_or_default();
    mounts.retain(|m| m["destination"] != "/dev/shm");
    mounts.push(json!({
        "destination": "/dev/shm",
        "type": "bind",
        "source": shm,
        "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
    }));
    spec["mounts"] = Value::Array(mounts);

    if let Some(linux) = meta.config.linux.as_ref()
        && !linux.sysctls.is_empty()
    {
        spec["linux"]["sysctl"] = json!(linux.sysctls);
    }
    let sc = meta.security_context();
    if let Some(groups) = sc.map(|s| &s.supplemental_groups)
        && !groups.is_empty()
    {
        let mut all: Vec<Value> = spec["process"]["user"]["additionalGids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        all.extend(groups.iter().map(|g| json!(g)));
        spec["process"]["user"]["additionalGids"] = Value::Array(all);
    }
    let oom = if options.restrict_oom_score_adj {
        SANDBOX_OOM_SCORE_ADJ.max(options.current_oom_score_adj)
    } else {
        SANDBOX_OOM_SCORE_ADJ
    };
    spec["process"]["oomScoreAdj"] = json!(oom);
    crate::container::apply_seccomp(
        spec,
        sc.and_then(|s| s.seccomp.as_ref()),
        sc.is_some_and(|s| s.privileged),
        options.kernel_has_safe_ptrace,
    )?;
    if let Some(obj) = spec["process"].as_object_mut() {
        obj.remove("rlimits");
        obj.remove("noNewPrivileges");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_api::cri::{
        LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
        PodSandboxConfig, PodSandboxMetadata,
    };
    use std::path::PathBuf;

    fn meta(ns: NamespaceOption) -> SandboxMeta {
        SandboxMeta {
            id: "sb1".into(),
            hostname: "web-0".into(),
            netns_path: (ns.network != NamespaceMode::Node as i32)
                .then(|| PathBuf::from("/run/crated/netns/cni-1")),
            config: PodSandboxConfig {
                metadata: Some(PodSandboxMetadata {
                    name: "web".into(),
                    namespace: "default".into(),
                    uid: "u1".into(),
                    attempt: 0,
                }),
                linux: Some(LinuxPodSandboxConfig {
                    sysctls: [(
                        "net.ipv4.ip_unprivileged_port_start".to_string(),
                        "0".to_string(),
                    )]
                    .into(),
                    security_context: Some(LinuxSandboxSecurityContext {
                        namespace_options: Some(ns),
                        ..LinuxSandboxSecurityContext::default()
                    }),
                    ..LinuxPodSandboxConfig::default()
                }),
                ..PodSandboxConfig::default()
            },
            ..SandboxMeta::default()
        }
    }

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/pause".into()]),
            ..ImageConfig::default()
        }
    }

    fn spec_json(meta: &SandboxMeta) -> Value {
        let options = SpecOptions::default();
        let spec = sandbox_spec(meta, &image(), "pause:test", Path::new("/shm"), &options)
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::to_value(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ns_types(spec: &Value) -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = spec["linux"]["namespaces"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| {
                (
                    n["type"].as_str().unwrap_or_default().to_string(),
                    n["path"].as_str().map(String::from),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_pod_network_pod_gets_the_pinned_netns_and_its_own_namespaces() {
        let spec = spec_json(&meta(NamespaceOption::default()));
        let types = ns_types(&spec);
        assert!(types.contains(&("network".into(), Some("/run/crated/netns/cni-1".into()))));
        for t in ["pid", "ipc", "uts", "mount"] {
            assert!(
                types.iter().any(|(n, p)| n == t && p.is_none()),
                "{types:?}"
            );
        }
        assert_eq!(spec["process"]["args"], json!(["/pause"]));
        assert_eq!(spec["hostname"], "web-0");
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["process"]["oomScoreAdj"], -998);
        assert_eq!(spec["linux"]["resources"]["cpu"]["shares"], 2);
        assert_eq!(
            spec["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
        assert_eq!(
            spec["annotations"]["io.kubernetes.cri.container-type"],
            "sandbox"
        );
        let shm: Vec<&Value> = spec["mounts"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|m| m["destination"] == "/dev/shm")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["source"], "/shm");
    }

    #[test]
    fn host_namespaces_are_left_out() {
        let node = NamespaceMode::Node as i32;
        let spec = spec_json(&meta(NamespaceOption {
            network: node,
            pid: node,
            ipc: node,
            ..NamespaceOption::default()
        }));
        let types: Vec<String> = ns_types(&spec).into_iter().map(|(t, _)| t).collect();
        assert_eq!(types, vec!["mount".to_string()]);
    }

    #[test]
    fn an_image_without_a_command_is_refused() {
        let options = SpecOptions::default();
        let err = sandbox_spec(
            &meta(NamespaceOption::default()),
            &ImageConfig::default(),
            "empty:1",
            Path::new("/shm"),
            &options,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("no command"), "{err}");
    }
}
