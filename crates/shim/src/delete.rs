//! `delete`: clean up after a shim that is gone — force-delete the OCI
//! runtime's container, unmount the rootfs — and print a `DeleteResponse`
//! (status 137, now) for containerd. Problems are warnings on stderr, which
//! containerd logs; the command still succeeds.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crated_api::ttrpc::api::DeleteResponse;
use crated_api::ttrpc::protobuf::{Message, MessageField};

use crate::args::Args;
use crate::events::timestamp;
use crate::mount::unmount_rootfs;
use crate::options::RuncOptions;

/// 128 + SIGKILL.
const KILLED: u32 = 137;

/// Runs `delete` and prints the response.
pub fn run(args: &Args) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| format!("finding the bundle: {e}"))?;
    // The bundle of `id` is a sibling of the working directory (they differ
    // when a grouped shim cleans up another container of its group).
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => cwd.parent().map(|p| p.join(&args.id)).unwrap_or(cwd),
    };
    let options = RuncOptions::load(&bundle).unwrap_or_else(|e| {
        eprintln!("warning: {e}; using runc defaults");
        RuncOptions::default()
    });
    let root = options.runtime_root(&bundle, &args.namespace);
    let out = Command::new(options.binary())
        .arg("--root")
        .arg(&root)
        .arg("--log")
        .arg(bundle.join("log.json"))
        .args(["--log-format", "json", "delete", "--force", &args.id])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => eprintln!(
            "warning: failed to remove runc container {}: {}",
            args.id,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => eprintln!("warning: running {}: {e}", options.binary()),
    }
    if let Err(e) = unmount_rootfs(&bundle.join("rootfs")) {
        eprintln!("warning: {e}");
    }
    let pid = std::fs::read_to_string(bundle.join("init.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mut resp = DeleteResponse::new();
    resp.pid = pid;
    resp.exit_status = KILLED;
    resp.exited_at = MessageField::some(timestamp(SystemTime::now()));
    let data = resp
        .write_to_bytes()
        .map_err(|e| format!("encoding delete response: {e}"))?;
    let mut stdout = std::io::stdout();
    stdout
        .write_all(&data)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing delete response: {e}"))
}
