//! Extended attributes of a path itself (never following a symlink).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{XattrFlags, lgetxattr, llistxattr, lsetxattr};

/// Every extended attribute of `path` with its value. Attributes that
/// vanish between listing and reading are left out.
pub(crate) fn get_xattrs(path: &Path) -> std::io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut names = Vec::new();
    loop {
        names.clear();
        let size = rustix::fs::llistxattr_query(path)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        names.reserve(size);
        match llistxattr(path, rustix::buffer::spare_capacity(&mut names)) {
            Ok(_) => break,
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsString::from_vec(name.to_vec());
        let mut value = Vec::new();
        loop {
            value.clear();
            let size = match rustix::fs::lgetxattr_query(path, name.as_os_str()) {
                Ok(size) => size,
                Err(rustix::io::Errno::NODATA) => break,
                Err(e) => return Err(e.into()),
            };
            if size == 0 {
                out.push((name.clone(), Vec::new()));
                break;
            }
            value.reserve(size);
            match lgetxattr(
                path,
                name.as_os_str(),
                rustix::buffer::spare_capacity(&mut value),
            ) {
                Ok(_) => {
                    out.push((name.clone(), value.clone()));
                    break;
                }
                Err(rustix::io::Errno::RANGE) => continue,
                Err(rustix::io::Errno::NODATA) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// Sets each attribute of `attrs` on `path`; returns the names that could
/// not be set with why (`security.*` ones often cannot, as containerd
/// notes), without stopping at them.
pub(crate) fn set_xattrs(
    path: &Path,
    attrs: &[(OsString, Vec<u8>)],
) -> Vec<(OsString, std::io::Error)> {
    attrs
        .iter()
        .filter_map(|(name, value)| {
            lsetxattr(path, name.as_os_str(), value, XattrFlags::empty())
                .err()
                .map(|e| (name.clone(), e.into()))
        })
        .collect()
}
