//! The host's device nodes, for privileged containers (containerd's
//! `oci.HostDevices`).

use std::path::Path;

use nix::sys::stat::{SFlag, lstat, major, minor};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

/// Every block and character device under `/dev`, skipping the
/// directories containerd skips (`pts`, `shm`, `fd`, `mqueue`, `.lxc`,
/// `.lxd-mounts`, `.udev`) and `/dev/console`.
pub fn host_devices() -> std::io::Result<Vec<LinuxDevice>> {
    let mut out = Vec::new();
    collect(Path::new("/dev"), &mut out)?;
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<LinuxDevice>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).collect();
    // os.ReadDir sorts by name.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if matches!(
                name.as_ref(),
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                continue;
            }
            collect(&path, out)?;
            continue;
        }
        if name == "console" {
            continue;
        }
        if let Some(device) = device_from_path(&path) {
            out.push(device);
        }
    }
    Ok(())
}

/// The device node at `path`; `None` when it is not a block or character
/// device or vanished.
pub fn device_from_path(path: &Path) -> Option<LinuxDevice> {
    let stat = lstat(path).ok()?;
    let format = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    let typ = if format == SFlag::S_IFBLK {
        LinuxDeviceType::B
    } else if format == SFlag::S_IFCHR {
        LinuxDeviceType::C
    } else {
        return None;
    };
    let rdev = stat.st_rdev;
    let mut device = LinuxDevice::default();
    device.set_path(path.to_path_buf());
    device.set_typ(typ);
    device.set_major(i64::try_from(major(rdev)).ok()?);
    device.set_minor(i64::try_from(minor(rdev)).ok()?);
    device.set_file_mode(Some(stat.st_mode & !SFlag::S_IFMT.bits()));
    device.set_uid(Some(stat.st_uid));
    device.set_gid(Some(stat.st_gid));
    Some(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_is_a_character_device() {
        let Some(null) = device_from_path(Path::new("/dev/null")) else {
            panic!("/dev/null is not a device");
        };
        assert_eq!(null.typ(), LinuxDeviceType::C);
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert!(device_from_path(Path::new("/etc/hostname")).is_none());
    }
}
