//! A pod's files: `hostname`, `hosts` and `resolv.conf` under the
//! plugin's root (every container of the pod mounts them), and the pod's
//! own `/dev/shm` tmpfs under the plugin's state (unless the pod shares
//! the host's IPC namespace). containerd's CRI lays them out the same way.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crated_api::cri::DnsConfig;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::{Error, Result};

/// The size of a pod's `/dev/shm` (containerd's 64 MiB).
const SHM_OPTIONS: &str = "mode=1777,size=65536k";

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { what, path, source }
}

/// Creates `dir` (and its parents), private to root.
pub(super) fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("creating the sandbox directory", dir))
}

/// Writes a pod file readable by the pod's containers.
fn write_pod_file(path: &Path, content: &[u8]) -> Result<()> {
    std::fs::write(path, content).map_err(io("writing the pod file", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(io("setting the mode of the pod file", path))
}

/// `resolv.conf` for `dns` as containerd writes it: `search`, then one
/// `nameserver` line each, then `options`.
pub(super) fn resolv_conf(dns: &DnsConfig) -> String {
    let mut text = String::new();
    if !dns.searches.is_empty() {
        text.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for server in &dns.servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.options.is_empty() {
        text.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    text
}

/// Writes `hostname`, `hosts` and `resolv.conf` into `root`: the
/// hostname given (else the host's), a copy of the host's `/etc/hosts`,
/// and `dns` (else a copy of the host's `/etc/resolv.conf`).
pub(super) fn write_pod_files(root: &Path, hostname: &str, dns: Option<&DnsConfig>) -> Result<()> {
    private_dir(root)?;
    let hostname = if hostname.is_empty() {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        hostname.to_string()
    };
    write_pod_file(&root.join("hostname"), format!("{hostname}\n").as_bytes())?;
    let host_hosts = Path::new("/etc/hosts");
    let hosts = std::fs::read(host_hosts).or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Ok(Vec::new())
        } else {
            Err(io("reading the host's hosts file", host_hosts)(e))
        }
    })?;
    write_pod_file(&root.join("hosts"), &hosts)?;
    let resolv = match dns {
        Some(dns) => resolv_conf(dns).into_bytes(),
        None => {
            let host_resolv = Path::new("/etc/resolv.conf");
            std::fs::read(host_resolv).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(Vec::new())
                } else {
                    Err(io("reading the host's resolv.conf", host_resolv)(e))
                }
            })?
        }
    };
    write_pod_file(&root.join("resolv.conf"), &resolv)
}

/// Mounts the pod's own `/dev/shm` (a 64 MiB tmpfs) at `state/shm`.
pub(super) fn mount_shm(state: &Path) -> Result<PathBuf> {
    let shm = state.join("shm");
    private_dir(&shm)?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(SHM_OPTIONS),
    )
    .map_err(|source| Error::Sys {
        what: "mounting the pod's /dev/shm",
        path: shm.clone(),
        source,
    })?;
    Ok(shm)
}

/// Unmounts the pod's `/dev/shm` if it is mounted (idempotent).
pub(super) fn unmount_shm(state: &Path) -> Result<()> {
    let shm = state.join("shm");
    match umount2(&shm, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(source) => Err(Error::Sys {
            what: "unmounting the pod's /dev/shm",
            path: shm,
            source,
        }),
    }
}

/// Removes a directory tree that may be gone already.
pub(super) fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("removing the sandbox directory", dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_searches_servers_then_options() {
        let dns = DnsConfig {
            servers: vec!["10.0.0.10".into(), "10.0.0.11".into()],
            searches: vec!["ns.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(&dns),
            "search ns.svc.cluster.local svc.cluster.local\n\
             nameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n"
        );
        assert_eq!(resolv_conf(&DnsConfig::default()), "");
    }

    #[test]
    fn pod_files_carry_the_hostname_and_the_dns_config() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path().join("pod");
        let dns = DnsConfig {
            servers: vec!["192.0.2.53".into()],
            ..DnsConfig::default()
        };
        write_pod_files(&root, "web-0", Some(&dns)).unwrap_or_else(|e| panic!("{e}"));
        let read = |n: &str| std::fs::read_to_string(root.join(n)).unwrap_or_default();
        assert_eq!(read("hostname"), "web-0\n");
        assert_eq!(read("resolv.conf"), "nameserver 192.0.2.53\n");
        assert!(root.join("hosts").exists());
        let mode = |p: PathBuf| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(root.clone()), 0o700);
        assert_eq!(mode(root.join("hosts")), 0o644);
        remove_dir(&root).unwrap_or_else(|e| panic!("{e}"));
        remove_dir(&root).unwrap_or_else(|e| panic!("removing twice: {e}"));
    }
}
