//! `start`, `stop`, `restart`, `kill`, `rm`, `wait`, `pause`, `unpause`
//! and `exec`.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use crated_client::Client;
use crated_client::container::STOP_SIGNAL_LABEL;
use crated_client::tasks::Status;

use super::run::{record_exit, start_detached};
use super::{EXIT_CODE_LABEL, container, for_each};
use crate::args::parse_signal;
use crate::cli::{ExecArgs, KillArgs, RmArgs, StopArgs};
use crate::commands::process::StdinMode;
use crate::commands::tasks::{ExecOptions, delete_task, exec as exec_task, kill_and_wait};
use crate::context::Context;
use crate::hints;
use crate::output::print;

/// The task of `id`, or `None` when it has none.
async fn task(client: &Client, id: &str) -> Result<Option<crated_client::tasks::Process>> {
    match client.tasks().get(id, "").await {
        Ok(task) => Ok(Some(task)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

fn is_live(status: Status) -> bool {
    !matches!(status, Status::Stopped | Status::Unknown)
}

/// `start`: a stopped task is deleted and a new one started detached.
pub async fn start(ctx: &Context, client: &Client, ids: &[String]) -> Result<()> {
    for_each(ids, |id| async move {
        let container = container(ctx, client, &id).await?;
        if let Some(task) = task(client, &id).await? {
            if is_live(task.status) && task.status != Status::Created {
                return print(&format!("{id}\n"));
            }
            delete_task(client, &id).await?;
        }
        clear_exit(client, &id).await;
        start_detached(ctx, client, &container).await?;
        print(&format!("{id}\n"))
    })
    .await
}

async fn clear_exit(client: &Client, id: &str) {
    let labels = [(EXIT_CODE_LABEL.to_string(), String::new())].into();
    if let Err(err) = client.containers().set_labels(id, labels).await {
        tracing::warn!(id, error = %err, "clearing the exit code");
    }
}

/// `stop` (and `restart`, which starts the containers again).
pub async fn stop(ctx: &Context, client: &Client, args: &StopArgs, restart: bool) -> Result<()> {
    let grace = Duration::from_secs(args.time);
    for_each(&args.ids, |id| async move {
        let container = container(ctx, client, &id).await?;
        stop_one(client, &container, grace).await?;
        if restart {
            clear_exit(client, &id).await;
            start_detached(ctx, client, &container).await?;
        }
        print(&format!("{id}\n"))
    })
    .await
}

/// Sends the container's stop signal, waits `grace`, then SIGKILL; deletes
/// the task and records its exit code. Nothing to do without a live task.
async fn stop_one(
    client: &Client,
    container: &crated_client::containers::Container,
    grace: Duration,
) -> Result<()> {
    let id = container.id.as_str();
    let Some(task) = task(client, id).await? else {
        return Ok(());
    };
    if is_live(task.status) {
        let tasks = client.tasks();
        if task.status == Status::Paused {
            tasks.resume(id).await?;
        }
        let waiter = {
            let (tasks, id) = (tasks.clone(), id.to_string());
            tokio::spawn(async move { tasks.wait(&id, "").await })
        };
        let signal = container
            .labels
            .get(STOP_SIGNAL_LABEL)
            .map(String::as_str)
            .unwrap_or("SIGTERM");
        let number = parse_signal(signal).map_err(anyhow::Error::msg)?;
        tasks.kill(id, "", number, false).await?;
        if tokio::time::timeout(grace, waiter).await.is_err() {
            kill_and_wait(client, id, "", true).await?;
        }
    }
    let code = delete_task(client, id).await?;
    record_exit(client, id, code).await;
    Ok(())
}

/// `kill -s SIGNAL`.
pub async fn kill(ctx: &Context, client: &Client, args: &KillArgs) -> Result<()> {
    let number = parse_signal(&args.signal).map_err(anyhow::Error::msg)?;
    for_each(&args.ids, |id| async move {
        container(ctx, client, &id).await?;
        match task(client, &id).await? {
            Some(task) if is_live(task.status) => {}
            _ => bail!("cannot kill container {id}: it is not running"),
        }
        client
            .tasks()
            .kill(&id, "", number, false)
            .await
            .map_err(|err| hints::task_error(ctx, err, &id))?;
        print(&format!("{id}\n"))
    })
    .await
}

/// `rm [-f]`: the task (killed first with `-f`), the container, its
/// snapshot and its log.
pub async fn remove(ctx: &Context, client: &Client, args: &RmArgs) -> Result<()> {
    for_each(&args.ids, |id| async move {
        let container = container(ctx, client, &id).await?;
        if let Some(task) = task(client, &id).await? {
            if is_live(task.status) && task.status != Status::Created {
                if !args.force {
                    bail!(
                        "cannot remove container {id}: it is {}: stop it first (\"{}\") or use rm -f",
                        task.status.as_str().to_lowercase(),
                        ctx.command_line(&format!("stop {id}"))
                    );
                }
                if task.status == Status::Paused {
                    client.tasks().resume(&id).await?;
                }
                kill_and_wait(client, &id, "", true).await?;
            }
            delete_task(client, &id).await?;
        }
        client.delete_container(&id, true).await?;
        if let Some(path) = super::log_path(&container)
            && let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "removing the log");
        }
        print(&format!("{id}\n"))
    })
    .await
}

/// `wait`: each container's exit code once it stopped.
pub async fn wait(ctx: &Context, client: &Client, ids: &[String]) -> Result<()> {
    for_each(ids, |id| async move {
        let container = container(ctx, client, &id).await?;
        let code = match task(client, &id).await? {
            Some(_) => {
                client
                    .tasks()
                    .wait(&id, "")
                    .await
                    .map_err(|err| hints::task_error(ctx, err, &id))?
                    .code
            }
            None => container
                .labels
                .get(EXIT_CODE_LABEL)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| anyhow!("container {id} has not run: start it first"))?,
        };
        print(&format!("{code}\n"))
    })
    .await
}

/// `pause` (`freeze` true) and `unpause`.
pub async fn pause(ctx: &Context, client: &Client, ids: &[String], freeze: bool) -> Result<()> {
    for_each(ids, |id| async move {
        container(ctx, client, &id).await?;
        let tasks = client.tasks();
        let result = if freeze {
            tasks.pause(&id).await
        } else {
            tasks.resume(&id).await
        };
        result.map_err(|err| hints::task_error(ctx, err, &id))?;
        print(&format!("{id}\n"))
    })
    .await
}

/// `exec`: a command in the running container, with a generated exec id.
pub async fn exec(ctx: &Context, client: &Client, args: ExecArgs) -> Result<()> {
    let container = container(ctx, client, &args.id).await?;
    // Detached, the output goes to the container's log.
    let log_uri = (args.detach && !args.tty)
        .then(|| container.labels.get(super::LOG_URI_LABEL).cloned())
        .flatten();
    let stdin = match (args.interactive, args.detach) {
        (true, false) => StdinMode::Copy,
        _ => StdinMode::Closed,
    };
    let options = ExecOptions {
        cwd: args.workdir,
        tty: args.tty,
        detach: args.detach,
        exec_id: crated_core::identifiers::unique_name("exec"),
        fifo_dir: crated_client::cio::DEFAULT_FIFO_DIR.into(),
        log_uri,
        user: args.user,
        env: args.env,
        stdin,
    };
    exec_task(ctx, client, &args.id, args.args, options).await
}
