//! Records the git revision the daemon is built from as `CRATED_REVISION`,
//! which the Version service reports (dockerd shows it as the containerd
//! version, `ctr version` as the server revision). A `CRATED_REVISION` set
//! in the build's environment wins; outside a git checkout nothing is set.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Asks cargo to run this script again when `git_path` (a path inside the
/// git directory) changes; only for files that exist, since a missing one
/// would make every build rerun it.
fn watch(git_path: &str) {
    if let Some(path) = git(&["rev-parse", "--git-path", git_path]) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=CRATED_REVISION");
    if std::env::var_os("CRATED_REVISION").is_some() {
        return;
    }
    let Some(revision) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    watch("HEAD");
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&reference);
    }
    watch("packed-refs");
    println!("cargo:rustc-env=CRATED_REVISION={revision}");
}
