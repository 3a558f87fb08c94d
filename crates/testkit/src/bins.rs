//! Locating the binaries the tests drive.
//!
//! An integration test cannot use `CARGO_BIN_EXE_*` for binaries of another
//! package, so `crated` and `cratectl` are looked up next to the test
//! executable: it lives in `<target>/<profile>/deps/`, the binaries in
//! `<target>/<profile>/`.

use std::path::{Path, PathBuf};

/// The directory cargo puts the workspace's binaries in for the profile the
/// running test was built with (the parent of the test's `deps/`).
pub fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find the running test executable: {e}"));
    let deps = exe
        .parent()
        .unwrap_or_else(|| panic!("test executable {} has no parent", exe.display()));
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap_or(deps).to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

fn built_binary(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env} points at {}, which does not exist",
            path.display()
        );
        return path;
    }
    let path = target_profile_dir().join(name);
    assert!(
        path.is_file(),
        "{name} not found at {}: run `cargo build --workspace` first (or set {env})",
        path.display()
    );
    path
}

/// Path of the `crated` daemon binary (override with `CRATED_BIN`).
pub fn crated_bin() -> PathBuf {
    built_binary("crated", "CRATED_BIN")
}

/// Path of the `cratectl` CLI binary (override with `CRATECTL_BIN`).
pub fn cratectl_bin() -> PathBuf {
    built_binary("cratectl", "CRATECTL_BIN")
}

/// Path of containerd's `ctr` (Debian package `containerd`; override with
/// `CTR_BIN`).
pub fn ctr_bin() -> PathBuf {
    let path = std::env::var_os("CTR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/ctr"));
    assert!(
        Path::new(&path).is_file(),
        "containerd's ctr not found at {}: run scripts/install-deps.sh (Debian package `containerd`) or set CTR_BIN",
        path.display()
    );
    path
}
