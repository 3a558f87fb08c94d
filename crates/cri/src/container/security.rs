//! The security context of a CRI container in its spec: user and
//! groups, capabilities, masked and read-only paths, seccomp, AppArmor and
//! the pod's namespaces (containerd's `containerSpecOpts` and the
//! `customopts` they use).

use crated_api::cri::{
    LinuxContainerSecurityContext, NamespaceMode, SecurityProfile, security_profile::ProfileType,
};
use crated_oci::{ImageConfig, UserDb};
use serde_json::{Value, json};

use super::pod::PodContext;
use crate::error::{Error, Result};

/// The user the process runs as, as `oci.WithUser` takes it: the CRI's
/// username or uid (with its group), else the image's user, else none
/// (root). Errors on a group without a user, as containerd does.
pub fn user_string(
    sc: Option<&LinuxContainerSecurityContext>,
    image: &ImageConfig,
) -> Result<Option<String>> {
    let mut user = String::new();
    if let Some(sc) = sc {
        if !sc.run_as_username.is_empty() {
            user = sc.run_as_username.clone();
        } else if let Some(uid) = &sc.run_as_user {
            user = uid.value.to_string();
        }
        if let Some(gid) = &sc.run_as_group {
            if user.is_empty() {
                return Err(Error::InvalidArgument(
                    "run_as_group is set without run_as_user or run_as_username: set a user too"
                        .into(),
                ));
            }
            user = format!("{user}:{}", gid.value);
        }
    }
    if user.is_empty() && !image.user.is_empty() {
        user = image.user.clone();
    }
    Ok((!user.is_empty()).then_some(user))
}

/// The user whose `/etc/group` memberships the process gets (containerd's
/// `WithAdditionalGIDs` argument): the CRI's username or uid, else the
/// image user's part before `:`, else root.
fn group_member(sc: Option<&LinuxContainerSecurityContext>, image: &ImageConfig) -> String {
    if let Some(sc) = sc {
        if !sc.run_as_username.is_empty() {
            return sc.run_as_username.clone();
        }
        if let Some(uid) = &sc.run_as_user {
            return uid.value.to_string();
        }
    }
    if !image.user.is_empty() {
        return image.user.split(':').next().unwrap_or_default().to_string();
    }
    "0".to_string()
}

/// The supplementary groups: the primary group first (the CVE-2023-25173
/// fix), then the CRI's supplemental groups, then the groups of the
/// image's `/etc/group` that list the user.
pub fn apply_groups(
    spec: &mut Value,
    sc: Option<&LinuxContainerSecurityContext>,
    image: &ImageConfig,
    users: &UserDb,
) -> Result<()> {
    let gid = spec["process"]["user"]["gid"].as_u64().unwrap_or(0);
    let mut gids: Vec<u64> = vec![gid];
    for g in sc
        .map(|s| s.supplemental_groups.as_slice())
        .unwrap_or_default()
    {
        let g = u64::try_from(*g)
            .map_err(|_| Error::InvalidArgument(format!("supplemental group {g} is negative")))?;
        gids.push(g);
    }
    gids.extend(
        users
            .supplementary_gids(&group_member(sc, image))
            .into_iter()
            .map(u64::from),
    );
    let mut seen = Vec::new();
    gids.retain(|g| {
        let new = !seen.contains(g);
        seen.push(*g);
        new
    });
    spec["process"]["user"]["additionalGids"] = json!(gids);
    Ok(())
}

/// `CAP_<NAME>` as the spec spells a CRI capability name.
fn cap_name(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Capabilities add/drop (`ALL` first, then the individual ones) and no
/// ambient capabilities (containerd's `WithCapabilities` and
/// `WithoutAmbientCaps`). Not for privileged containers: they keep all.
pub fn apply_capabilities(spec: &mut Value, sc: Option<&LinuxContainerSecurityContext>) {
    let caps = &mut spec["process"]["capabilities"];
    if let Some(c) = sc.and_then(|s| s.capabilities.as_ref()) {
        let mut set: Vec<String> = caps["bounding"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let is_all = |v: &String| v.eq_ignore_ascii_case("ALL");
        if c.add_capabilities.iter().any(is_all) {
            set = crated_oci::ALL_CAPABILITIES
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        if c.drop_capabilities.iter().any(is_all) {
            set.clear();
        }
        for add in c.add_capabilities.iter().filter(|v| !is_all(v)) {
            let name = cap_name(add);
            if !set.contains(&name) {
                set.push(name);
            }
        }
        let drop: Vec<String> = c
            .drop_capabilities
            .iter()
            .filter(|v| !is_all(v))
            .map(|v| cap_name(v))
            .collect();
        set.retain(|s| !drop.contains(s));
        for key in ["bounding", "effective", "permitted"] {
            caps[key] = json!(set);
        }
    }
    if let Some(obj) = caps.as_object_mut() {
        obj.remove("ambient");
        obj.remove("inheritable");
    }
}

/// Masked and read-only paths: none by default, the CRI's when given;
/// privileged containers have none.
pub fn apply_paths(spec: &mut Value, sc: Option<&LinuxContainerSecurityContext>, privileged: bool) {
    let (masked, readonly) = match sc {
        Some(sc) if !privileged => (sc.masked_paths.clone(), sc.readonly_paths.clone()),
        _ => (Vec::new(), Vec::new()),
    };
    spec["linux"]["maskedPaths"] = json!(masked);
    spec["linux"]["readonlyPaths"] = json!(readonly);
}

/// The seccomp profile: none for privileged containers or `Unconfined`
/// (and when the CRI names none), containerd's default profile for the
/// final capabilities on `RuntimeDefault`, a file of the host's on
/// `Localhost`.
pub fn apply_seccomp(
    spec: &mut Value,
    profile: Option<&SecurityProfile>,
    privileged: bool,
    kernel_has_safe_ptrace: bool,
) -> Result<()> {
    let linux = &mut spec["linux"];
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("seccomp");
    }
    let Some(profile) = profile else {
        return Ok(());
    };
    if privileged {
        return Ok(());
    }
    match ProfileType::try_from(profile.profile_type) {
        Ok(ProfileType::Unconfined) => Ok(()),
        Ok(ProfileType::RuntimeDefault) => {
            let bounding: Vec<String> = spec["process"]["capabilities"]["bounding"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let profile = crated_oci::default_seccomp_profile(&bounding, kernel_has_safe_ptrace);
            spec["linux"]["seccomp"] = serde_json::to_value(profile).map_err(|e| {
                Error::InvalidArgument(format!("encoding the default seccomp profile: {e}"))
            })?;
            Ok(())
        }
        Ok(ProfileType::Localhost) => {
            let path = &profile.localhost_ref;
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: "reading the Localhost seccomp profile",
                path: path.into(),
                source,
            })?;
            let parsed: oci_spec::runtime::LinuxSeccomp =
                serde_json::from_str(&text).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "seccomp profile {path:?} is not a valid profile ({e}): fix the file"
                    ))
                })?;
            spec["linux"]["seccomp"] = serde_json::to_value(parsed).map_err(|e| {
                Error::InvalidArgument(format!("encoding seccomp profile {path:?}: {e}"))
            })?;
            Ok(())
        }
        Err(_) => Err(Error::InvalidArgument(format!(
            "unknown seccomp profile type {}: use RuntimeDefault, Unconfined or Localhost",
            profile.profile_type
        ))),
    }
}

/// AppArmor: a `Localhost` profile is applied where the host has
/// AppArmor and refused where it has not; `RuntimeDefault` and
/// `Unconfined` set none.
pub fn apply_apparmor(
    spec: &mut Value,
    profile: Option<&SecurityProfile>,
    host_has_apparmor: bool,
) -> Result<()> {
    let Some(profile) = profile else {
        return Ok(());
    };
    if profile.profile_type != ProfileType::Localhost as i32 {
        return Ok(());
    }
    if !host_has_apparmor {
        return Err(Error::FailedPrecondition(format!(
            "AppArmor profile {:?} was asked for but AppArmor is not enabled on this host: drop the profile or enable AppArmor",
            profile.localhost_ref
        )));
    }
    let name = profile
        .localhost_ref
        .strip_prefix("localhost/")
        .unwrap_or(&profile.localhost_ref);
    spec["process"]["apparmorProfile"] = json!(name);
    Ok(())
}

/// Joins the pause process's network, IPC and UTS namespaces and, unless
/// the container has its own, its (or the target's) PID namespace; adds
/// a cgroup namespace on cgroup v2 (containerd's `WithPodNamespaces`).
pub fn apply_namespaces(
    spec: &mut Value,
    pod: &PodContext,
    sc: Option<&LinuxContainerSecurityContext>,
    target_pid: Option<u32>,
    cgroup_v2: bool,
) {
    let pid_mode = sc
        .and_then(|s| s.namespace_options.as_ref())
        .map_or(NamespaceMode::Pod as i32, |n| n.pid);
    let mut join = vec![
        ("network", "net", pod.pause_pid),
        ("ipc", "ipc", pod.pause_pid),
        ("uts", "uts", pod.pause_pid),
    ];
    if pid_mode != NamespaceMode::Container as i32 {
        let pid = if pid_mode == NamespaceMode::Target as i32 {
            target_pid.unwrap_or(pod.pause_pid)
        } else {
            pod.pause_pid
        };
        join.push(("pid", "pid", pid));
    }
    let mut namespaces: Vec<Value> = spec["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (typ, file, pid) in join {
        namespaces.retain(|n| n["type"] != typ);
        namespaces.push(json!({"type": typ, "path": PodContext::ns_path(pid, file)}));
    }
    if cgroup_v2 && !namespaces.iter().any(|n| n["type"] == "cgroup") {
        namespaces.push(json!({"type": "cgroup"}));
    }
    spec["linux"]["namespaces"] = Value::Array(namespaces);
}
