//! Records the git revision crated is built from as `CRATED_REVISION`
//! (reported by the Version service and `crated --version`). Outside a git
//! checkout, or without git, nothing is recorded and the revision reads
//! `unknown`; a `CRATED_REVISION` set in the environment wins.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=CRATED_REVISION");
    if std::env::var_os("CRATED_REVISION").is_some() {
        return;
    }
    let Some(revision) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=CRATED_REVISION={revision}");
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = std::path::Path::new(&path);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
                    .join(path)
            };
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
