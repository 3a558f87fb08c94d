//! The docker/nerdctl-shaped verbs, over the same client calls as the
//! ctr-shaped groups.
//!
//! A container's name is its containerd id. Containers started detached
//! (`run -d`, `start`) write their output through a `binary://` log URI
//! naming `cratectl internal-logger <file>`: the shim starts that program
//! and owns it, so the log outlives the `cratectl` that started the
//! container. The files sit in `<daemon root>/cratectl/logs/<namespace>/`,
//! the daemon root being the parent of the content store's root that
//! Introspection reports.

mod images;
mod lifecycle;
mod logger;
mod logs;
mod ps;
mod run;

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use crated_client::Client;
use crated_client::containers::Container;

pub use logger::run as internal_logger;

use crate::cli::DockerCommand;
use crate::context::Context;

/// The label holding the log URI a container's detached tasks get.
pub const LOG_URI_LABEL: &str = "io.crated.cratectl/log-uri";
/// The label holding the exit code `cratectl` last saw of a container
/// whose task is gone.
pub const EXIT_CODE_LABEL: &str = "io.crated.cratectl/exit-code";

/// Runs a docker-shaped verb.
pub async fn run(ctx: &Context, command: DockerCommand) -> Result<()> {
    let client = ctx.connect().await?;
    match command {
        DockerCommand::Run(args) => run::run(ctx, &client, *args, true).await,
        DockerCommand::Create(args) => run::run(ctx, &client, *args, false).await,
        DockerCommand::Ps(args) => ps::ps(ctx, &client, args).await,
        DockerCommand::Inspect(args) => ps::inspect(ctx, &client, &args.ids).await,
        DockerCommand::Top(args) => ps::top(ctx, &client, &args.id).await,
        DockerCommand::Start(args) => lifecycle::start(ctx, &client, &args.ids).await,
        DockerCommand::Stop(args) => lifecycle::stop(ctx, &client, &args, false).await,
        DockerCommand::Restart(args) => lifecycle::stop(ctx, &client, &args, true).await,
        DockerCommand::Kill(args) => lifecycle::kill(ctx, &client, &args).await,
        DockerCommand::Rm(args) => lifecycle::remove(ctx, &client, &args).await,
        DockerCommand::Wait(args) => lifecycle::wait(ctx, &client, &args.ids).await,
        DockerCommand::Pause(args) => lifecycle::pause(ctx, &client, &args.ids, true).await,
        DockerCommand::Unpause(args) => lifecycle::pause(ctx, &client, &args.ids, false).await,
        DockerCommand::Exec(args) => lifecycle::exec(ctx, &client, args).await,
        DockerCommand::Logs(args) => logs::logs(ctx, &client, args).await,
        DockerCommand::Pull(args) => images::pull(&client, *args).await,
        DockerCommand::Rmi(args) => images::rmi(&client, args).await,
        DockerCommand::Tag(args) => images::tag(ctx, &client, args).await,
    }
}

/// Normalises an image name as docker does: `busybox` is
/// `docker.io/library/busybox:latest`.
pub fn normalize(image: &str) -> Result<String> {
    let reference = crated_remotes::Reference::parse(image).map_err(|err| {
        anyhow!("{err} (examples: busybox, docker.io/library/busybox:1.36, localhost:5000/app:1)")
    })?;
    Ok(reference.to_string())
}

/// Container `id`, with a hint when it does not exist.
pub async fn container(ctx: &Context, client: &Client, id: &str) -> Result<Container> {
    client.containers().get(id).await.map_err(|err| {
        if err.is_not_found() {
            anyhow!(
                "no such container: {id}: not found (run \"{}\" to see containers)",
                ctx.command_line("ps -a")
            )
        } else {
            err.into()
        }
    })
}

/// Where the logs of the current namespace's containers go:
/// `<daemon root>/cratectl/logs/<namespace>`.
pub async fn log_dir(ctx: &Context, client: &Client) -> Result<PathBuf> {
    let plugins = client
        .introspection()
        .plugins(&["type==io.containerd.content.v1".to_string()])
        .await?;
    let root = plugins
        .iter()
        .find_map(|p| p.exports.get("root"))
        .map(PathBuf::from)
        .and_then(|content_root| content_root.parent().map(PathBuf::from))
        .ok_or_else(|| {
            anyhow!(
                "the daemon does not say where its root is (no \"root\" export of an io.containerd.content.v1 plugin in \"{}\"): cannot place container logs",
                ctx.command_line("plugins ls -d")
            )
        })?;
    Ok(root.join("cratectl").join("logs").join(ctx.namespace()))
}

/// The log file a container's log URI names, if it has one.
pub fn log_path(container: &Container) -> Option<PathBuf> {
    let uri = container.labels.get(LOG_URI_LABEL)?;
    logger::path_of_uri(uri)
}

/// Runs `each` for every id, reporting failures and carrying on; fails
/// (exit status 1) when any failed.
pub async fn for_each<F, Fut>(ids: &[String], mut each: F) -> Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut failed = false;
    for id in ids {
        if let Err(err) = each(id.clone()).await {
            super::report(&err);
            failed = true;
        }
    }
    if failed {
        return Err(super::Reported.into());
    }
    Ok(())
}
