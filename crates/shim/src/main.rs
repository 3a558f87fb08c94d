//! `containerd-shim-crated-v1`: crated's runtime v2 shim (runtime
//! `io.containerd.crated.v1`), a drop-in for containerd's
//! `containerd-shim-runc-v2`.
//!
//! containerd runs it three ways, all in the bundle directory:
//!
//! - `… start`: bind the shim socket, re-execute as the server, print the
//!   address ([`start`]);
//! - `… delete`: clean up after a dead shim, print a `DeleteResponse`
//!   ([`delete`]);
//! - no action: the server, serving `containerd.task.v2.Task` and
//!   `containerd.task.v3.Task` over ttrpc and driving an OCI runtime
//!   (runc, or crun through the runtime options' binary name) ([`server`]).
//!
//! How it stays small (one shim runs per container): a single-threaded
//! tokio runtime and no thread pool; the process's FIFOs are handed to the
//! OCI runtime instead of being copied through pipes (only a terminal is
//! copied, between the pty master and the FIFOs); exits are collected as a
//! child subreaper with `waitpid(-1)` and handed to whoever waits
//! ([`reaper`]); events are queued to one task that forwards them over
//! ttrpc, or through the daemon's `publish` command when that fails
//! ([`events`]). `unsafe` is confined to [`sys`].

mod args;
mod cgroup;
mod console;
mod delete;
mod error;
mod events;
mod io;
mod logger;
mod mount;
mod options;
mod process;
mod reaper;
mod relay;
mod runtime;
mod server;
mod service;
mod start;
mod sys;

use std::process::ExitCode;

/// The runtime name containerd knows this shim by.
const RUNTIME_NAME: &str = "io.containerd.crated.v1";

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{RUNTIME_NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    if args.version {
        println!("{}:", std::env::args().next().unwrap_or_default());
        println!("  Version:  {}", env!("CARGO_PKG_VERSION"));
        println!("  Runtime:  {RUNTIME_NAME}");
        return ExitCode::SUCCESS;
    }
    if args.namespace.is_empty() {
        eprintln!("{RUNTIME_NAME}: shim namespace cannot be empty");
        return ExitCode::FAILURE;
    }
    let result = match args.action.as_deref() {
        Some("start") => start::run(&args),
        Some("delete") => delete::run(&args),
        None => server::run(&args),
        Some(other) => Err(format!(
            "unknown action {other:?}; expected start or delete"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{RUNTIME_NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serializes unit tests that spawn children: the reaper test collects
/// every child of the test process.
#[cfg(test)]
static CHILDREN: std::sync::Mutex<()> = std::sync::Mutex::new(());
