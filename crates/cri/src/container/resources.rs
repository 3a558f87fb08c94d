//! Resources, OOM score, cgroup path and devices of a CRI container's
//! spec (containerd's `WithResources`, `WithOOMScoreAdj`,
//! `getCgroupsPath` and `WithDevices`).

use std::path::Path;

use crated_api::cri::{Device, LinuxContainerResources};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Host facts the resource options depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceHost {
    /// Whether swap can be limited (memory.swap.max / memsw exist).
    pub swap: bool,
    /// Whether the hugetlb controller is there.
    pub hugetlb: bool,
    /// Proceed without hugepage limits when the controller is missing
    /// (`tolerate_missing_hugetlb_controller`).
    pub tolerate_missing_hugetlb: bool,
}

/// Puts `res` into `spec`'s `linux.resources`.
pub fn apply_resources(
    spec: &mut Value,
    res: &LinuxContainerResources,
    host: &ResourceHost,
) -> Result<()> {
    let r = &mut spec["linux"]["resources"];
    if res.cpu_period != 0 {
        r["cpu"]["period"] = json!(res.cpu_period);
    }
    if res.cpu_quota != 0 {
        r["cpu"]["quota"] = json!(res.cpu_quota);
    }
    if res.cpu_shares != 0 {
        r["cpu"]["shares"] = json!(res.cpu_shares);
    }
    if !res.cpuset_cpus.is_empty() {
        r["cpu"]["cpus"] = json!(res.cpuset_cpus);
    }
    if !res.cpuset_mems.is_empty() {
        r["cpu"]["mems"] = json!(res.cpuset_mems);
    }
    if res.memory_limit_in_bytes != 0 {
        r["memory"]["limit"] = json!(res.memory_limit_in_bytes);
        // Memory and swap equal: no swapping unless the CRI asks for it.
        if res.memory_swap_limit_in_bytes == 0 && host.swap {
            r["memory"]["swap"] = json!(res.memory_limit_in_bytes);
        }
    }
    if res.memory_swap_limit_in_bytes != 0 && host.swap {
        r["memory"]["swap"] = json!(res.memory_swap_limit_in_bytes);
    }
    if !res.hugepage_limits.is_empty() {
        if host.hugetlb {
            r["hugepageLimits"] = res
                .hugepage_limits
                .iter()
                .map(|h| json!({"pageSize": h.page_size, "limit": h.limit}))
                .collect();
        } else if !host.tolerate_missing_hugetlb {
            return Err(Error::FailedPrecondition(
                "huge page limits are set but the hugetlb cgroup controller is missing: set tolerate_missing_hugetlb_controller = true to ignore them".into(),
            ));
        }
    }
    if !res.unified.is_empty() {
        for (k, v) in &res.unified {
            r["unified"][k] = json!(v);
        }
    }
    Ok(())
}

/// The OOM score adjustment: the CRI's, raised to this process's own
/// when `restrict` is on (`restrict_oom_score_adj`).
pub fn apply_oom_score_adj(
    spec: &mut Value,
    res: &LinuxContainerResources,
    restrict: bool,
    current: i64,
) {
    let mut adj = res.oom_score_adj;
    if restrict && adj < current {
        adj = current;
    }
    spec["process"]["oomScoreAdj"] = json!(adj);
}

/// This process's `oom_score_adj`.
pub fn current_oom_score_adj() -> Result<i64> {
    let path = "/proc/self/oom_score_adj";
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "reading",
        path: path.into(),
        source,
    })?;
    text.trim()
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("{path} holds {text:?}: {e}")))
}

/// The cgroup path of container `id` under the pod's `parent`: the
/// systemd form `<slice>:cri-containerd:<id>` for a `.slice` parent, else
/// `<parent>/<id>`.
pub fn cgroups_path(parent: &str, id: &str) -> String {
    if parent.ends_with(".slice") {
        let slice = Path::new(parent)
            .file_name()
            .map_or(parent.into(), |n| n.to_string_lossy().into_owned());
        return format!("{slice}:cri-containerd:{id}");
    }
    Path::new(parent).join(id).to_string_lossy().into_owned()
}

/// Adds the CRI's devices (host path resolved through symlinks) and
/// cgroup rules allowing them with the given permissions; with
/// `owner`, the device nodes belong to the process's user
/// (`device_ownership_from_security_context`).
pub fn apply_devices(
    spec: &mut Value,
    devices: &[Device],
    owner: Option<(u64, u64)>,
) -> Result<()> {
    for d in devices {
        let host = std::fs::canonicalize(&d.host_path).map_err(|source| Error::Io {
            what: "resolving the device",
            path: d.host_path.clone().into(),
            source,
        })?;
        let Some(dev) = crated_oci::device_from_path(&host) else {
            return Err(Error::InvalidArgument(format!(
                "{} ({}) is not a block or character device: give a device node",
                d.host_path,
                host.display()
            )));
        };
        let typ = if dev.typ() == oci_spec::runtime::LinuxDeviceType::B {
            "b"
        } else {
            "c"
        };
        let mut node = json!({
            "path": d.container_path,
            "type": typ,
            "major": dev.major(),
            "minor": dev.minor(),
            "fileMode": dev.file_mode(),
            "uid": dev.uid(),
            "gid": dev.gid(),
        });
        if let Some((uid, gid)) = owner {
            node["uid"] = json!(uid);
            node["gid"] = json!(gid);
        }
        push(&mut spec["linux"]["devices"], node);
        let access = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        push(
            &mut spec["linux"]["resources"]["devices"],
            json!({"allow": true, "type": typ, "major": dev.major(), "minor": dev.minor(), "access": access}),
        );
    }
    Ok(())
}

fn push(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(a) = list.as_array_mut() {
        a.push(item);
    }
}
