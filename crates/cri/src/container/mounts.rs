//! A container's mounts the way containerd's CRI plugin lays them out:
//! the pod's files (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`,
//! `/dev/shm`), the image's volumes and the CRI mounts, a CRI mount
//! winning over the others at the same destination; bind mounts ordered
//! by depth so a parent never shadows a child; host paths created when
//! missing and resolved through their symlinks; propagation checked
//! against the host mount the source lives on.

use std::path::{Component, Path, PathBuf};

use crated_api::cri::{ContainerConfig, Mount, MountPropagation, NamespaceMode};
use serde_json::{Value, json};

use super::pod::PodContext;
use crate::error::{Error, Result};

/// The pod's own files a container gets unless a CRI mount takes their
/// place (containerd's `containerMounts`).
pub fn pod_mounts(pod: &PodContext, config: &ContainerConfig) -> Vec<Mount> {
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    let readonly = security.is_some_and(|s| s.readonly_rootfs);
    let host_ipc = security
        .and_then(|s| s.namespace_options.as_ref())
        .is_some_and(|n| n.ipc == NamespaceMode::Node as i32);
    let mut out = Vec::new();
    let mut add = |dst: &str, src: Option<&PathBuf>, readonly: bool| {
        if let Some(src) = src
            && !in_cri_mounts(dst, &config.mounts)
        {
            out.push(Mount {
                container_path: dst.to_string(),
                host_path: src.to_string_lossy().into_owned(),
                readonly,
                ..Mount::default()
            });
        }
    };
    if pod.hostname_path.as_ref().is_some_and(|p| p.exists()) {
        add("/etc/hostname", pod.hostname_path.as_ref(), readonly);
    }
    add("/etc/hosts", pod.hosts_path.as_ref(), readonly);
    add("/etc/resolv.conf", pod.resolv_path.as_ref(), readonly);
    let host_shm = PathBuf::from("/dev/shm");
    let shm = if host_ipc {
        Some(&host_shm)
    } else {
        pod.shm_path.as_ref()
    };
    add("/dev/shm", shm, false);
    out
}

/// Bind mounts for the image's volumes under `volume_dir`, one fresh
/// directory each, skipping those a CRI mount covers (containerd's
/// `volumeMounts`). Returns the mounts; their directories are filled by
/// [`super::volumes::copy_volume`].
pub fn image_volume_mounts(
    volumes: &[String],
    cri_mounts: &[Mount],
    volume_dir: &Path,
) -> Vec<Mount> {
    let mut volumes: Vec<&String> = volumes.iter().collect();
    volumes.sort();
    volumes
        .into_iter()
        .filter(|dst| !in_cri_mounts(dst, cri_mounts))
        .map(|dst| Mount {
            container_path: dst.clone(),
            host_path: volume_dir
                .join(crated_core::identifiers::generate_id())
                .to_string_lossy()
                .into_owned(),
            ..Mount::default()
        })
        .collect()
}

fn in_cri_mounts(dst: &str, mounts: &[Mount]) -> bool {
    mounts
        .iter()
        .any(|m| clean(&m.container_path) == clean(dst))
}

/// `path` without `.` components, repeated or trailing slashes.
fn clean(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// Refuses a mount whose paths could lead somewhere else than asked: a
/// relative path, or a `..` in the container path (it would be resolved
/// against the container's filesystem, where a symlink can redirect it).
pub fn check_mount(mount: &Mount) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::InvalidArgument(format!(
            "mount {:?} -> {:?}: {what}; give absolute paths without \"..\"",
            mount.host_path, mount.container_path
        )))
    };
    if !mount.container_path.starts_with('/') {
        return bad("the container path is not absolute");
    }
    if Path::new(&mount.container_path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return bad("the container path has a \"..\" component");
    }
    if !mount.host_path.starts_with('/') {
        return bad("the host path is not absolute");
    }
    Ok(())
}

/// The host path of `mount`, created as a directory when missing and
/// resolved through its symlinks, so the bind mounts what the path names
/// now, not what it may be switched to later.
fn resolve_host_path(mount: &Mount) -> Result<PathBuf> {
    let src = Path::new(&mount.host_path);
    match std::fs::symlink_metadata(src) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(src).map_err(|source| Error::Io {
                what: "creating the host path of a mount",
                path: src.to_path_buf(),
                source,
            })?;
        }
        Err(source) => {
            return Err(Error::Io {
                what: "checking the host path of a mount",
                path: src.to_path_buf(),
                source,
            });
        }
    }
    std::fs::canonicalize(src).map_err(|source| Error::Io {
        what: "resolving the symlinks of a mount's host path",
        path: src.to_path_buf(),
        source,
    })
}

/// The mount `path` lives on and its optional fields, from
/// `/proc/self/mountinfo`.
fn mount_of(path: &Path) -> Result<(PathBuf, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| Error::Io {
        what: "reading",
        path: "/proc/self/mountinfo".into(),
        source,
    })?;
    let mut best: Option<(PathBuf, String)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(point) = fields.get(4) else { continue };
        let point = PathBuf::from(point.replace("\\040", " "));
        if !path.starts_with(&point) {
            continue;
        }
        let optional = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if best
            .as_ref()
            .is_none_or(|(b, _)| point.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some((point, optional));
        }
    }
    best.ok_or_else(|| Error::InvalidArgument(format!("no mount found for {}", path.display())))
}

/// Checks that `src`'s mount propagates the way `want` needs
/// (containerd's `ensureShared` / `ensureSharedOrSlave`).
fn check_propagation(src: &Path, want: MountPropagation) -> Result<()> {
    let (point, optional) = mount_of(src)?;
    let shared = optional.contains("shared:");
    let slave = optional.contains("master:");
    let ok = match want {
        MountPropagation::PropagationBidirectional => shared,
        MountPropagation::PropagationHostToContainer => shared || slave,
        MountPropagation::PropagationPrivate => true,
    };
    if ok {
        return Ok(());
    }
    Err(Error::FailedPrecondition(format!(
        "path {} is mounted on {} but it is not a {} mount: make it one (mount --make-{}) or choose private propagation",
        src.display(),
        point.display(),
        if want == MountPropagation::PropagationBidirectional {
            "shared"
        } else {
            "shared or slave"
        },
        if want == MountPropagation::PropagationBidirectional {
            "rshared"
        } else {
            "rslave"
        },
    )))
}

/// Puts `mounts` (CRI mounts first, then the pod's and the image's) into
/// the spec `spec` (as JSON): defaults at the same destinations, or under
/// `/dev` when `/dev` itself is mounted, give way (containerd's
/// `WithMounts`).
pub fn apply(spec: &mut Value, mounts: Vec<Mount>) -> Result<()> {
    let mut mounts = mounts;
    for m in &mounts {
        check_mount(m)?;
    }
    // Fewer path components first; stable, so equal depths keep their order.
    mounts.sort_by_key(|m| clean(&m.container_path).components().count());
    let targets: Vec<PathBuf> = mounts.iter().map(|m| clean(&m.container_path)).collect();
    let dev = targets.iter().any(|t| t == Path::new("/dev"));
    let mut out: Vec<Value> = spec["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            let dst = clean(m["destination"].as_str().unwrap_or_default());
            dst != Path::new("/run")
                && !targets.contains(&dst)
                && !(dev && dst.starts_with("/dev") && dst != Path::new("/dev"))
        })
        .collect();
    let mut rootfs_propagation: Option<&str> = None;
    for m in &mounts {
        let src = resolve_host_path(m)?;
        let mut options = vec!["rbind"];
        match MountPropagation::try_from(m.propagation)
            .unwrap_or(MountPropagation::PropagationPrivate)
        {
            MountPropagation::PropagationPrivate => options.push("rprivate"),
            MountPropagation::PropagationBidirectional => {
                check_propagation(&src, MountPropagation::PropagationBidirectional)?;
                options.push("rshared");
                rootfs_propagation = Some("rshared");
            }
            MountPropagation::PropagationHostToContainer => {
                check_propagation(&src, MountPropagation::PropagationHostToContainer)?;
                options.push("rslave");
                if rootfs_propagation != Some("rshared") {
                    rootfs_propagation = Some("rslave");
                }
            }
        }
        options.push(if m.readonly { "ro" } else { "rw" });
        out.push(json!({
            "destination": m.container_path,
            "type": "bind",
            "source": src,
            "options": options,
        }));
    }
    spec["mounts"] = Value::Array(out);
    if let Some(p) = rootfs_propagation {
        spec["linux"]["rootfsPropagation"] = json!(p);
    }
    Ok(())
}
