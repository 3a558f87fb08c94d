//! One module per command group.

mod containers;
mod content;
mod docker;
mod events;
mod images;
mod images_transfer;
mod info;
mod leases;
mod namespaces;
mod plugins;
mod process;
mod run;
mod snapshots;
mod tasks;
mod version;

use anyhow::Result;

pub use docker::internal_logger;

use crate::cli::Command;
use crate::context::Context;

/// The error of a command that already printed its failures (e.g. `rm` of
/// several objects); `main` exits with 1 without printing more.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("errors were reported above")
    }
}

impl std::error::Error for Reported {}

/// The error of a command that ends with a process's exit status: `main`
/// exits with it without printing anything (`run`, `tasks exec`, …).
#[derive(Debug)]
pub struct Exit(pub u32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the process exited with status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Prints `err` as a failure of one item of a command that carries on.
pub fn report(err: &anyhow::Error) {
    eprintln!("cratectl: {}", error_text(err));
}

/// `err` and its causes on one line, each text once (a crated error
/// already spells out its cause).
pub fn error_text(err: &anyhow::Error) -> String {
    crated_core::errconv::chain_text(err.as_ref())
}

/// Runs `command`.
pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Version => version::run(ctx).await,
        Command::Info => info::run(ctx).await,
        Command::Plugins(command) => plugins::run(ctx, command).await,
        Command::Namespaces(command) => namespaces::run(ctx, command).await,
        Command::Content(command) => content::run(ctx, command).await,
        Command::Leases(command) => leases::run(ctx, command).await,
        Command::Events(args) => events::run(ctx, args).await,
        Command::Docker(command) => docker::run(ctx, command).await,
        Command::Containers(command) => containers::run(ctx, command).await,
        Command::Tasks(command) => tasks::run(ctx, command).await,
        Command::Images(command) => images::run(ctx, command).await,
        Command::Snapshots(args) => snapshots::run(ctx, args).await,
        Command::Completion { .. } => {
            anyhow::bail!("completion runs before the async runtime")
        }
        Command::InternalLogger { path } => {
            anyhow::bail!(
                "internal-logger {} runs before the async runtime",
                path.display()
            )
        }
    }
}
