//! One module per command group.

mod content;
mod events;
mod info;
mod leases;
mod namespaces;
mod plugins;
mod version;

use anyhow::Result;

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

/// Prints `err` as a failure of one item of a command that carries on.
pub fn report(err: &anyhow::Error) {
    eprintln!("cratectl: {err:#}");
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
    }
}
