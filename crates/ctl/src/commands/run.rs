//! `cratectl run` and `cratectl containers create`: a container from an
//! image or a root directory, with a spec built as `ctr run` builds it.

use anyhow::{Context as _, Result, bail};
use crated_client::Client;
use crated_client::container::{NewContainer, Rootfs};
use crated_client::containers::{Container, Runtime};
use crated_client::runtime_options;
use crated_client::spec::{Seccomp, SpecBuilder, parse_mount};

use super::process::{Foreground, ProcessIo, Terminal, new_io, write_pid_file};
use super::{Exit, tasks::delete_task_quietly};
use crate::args::{annotation_args, label_args, parse_env_file};
use crate::cli::{ContainerFlags, RunArgs};
use crate::context::Context;
use crate::hints;

/// The spec and record options `flags` ask for.
pub fn new_container(
    ctx: &Context,
    flags: &ContainerFlags,
    cpu_shares_default: Option<u64>,
) -> Result<(NewContainer, SpecBuilder)> {
    if flags.id.is_empty() {
        bail!("container id must be provided");
    }
    if flags.reference.is_empty() {
        bail!("image ref must be provided (or a directory with --rootfs)");
    }
    let rootfs = if flags.rootfs {
        let dir = std::path::PathBuf::from(&flags.reference);
        if !dir.is_dir() {
            bail!(
                "root filesystem {} is not a directory (--rootfs takes a directory with the container's files)",
                dir.display()
            );
        }
        Rootfs::Directory(dir)
    } else {
        Rootfs::Image {
            reference: flags.reference.clone(),
            snapshotter: flags.snapshotter.clone(),
        }
    };
    if (flags.runc_binary.is_some()) && flags.runtime != runtime_options::DEFAULT_RUNTIME {
        bail!(
            "--runc-binary is only supported for the \"{}\" runtime",
            runtime_options::DEFAULT_RUNTIME
        );
    }
    let mut new = NewContainer::new(flags.id.clone(), rootfs);
    new.runtime = Runtime {
        name: flags.runtime.clone(),
        options: runtime_options::for_runtime(
            &flags.runtime,
            flags.runc_binary.as_deref(),
            flags.runtime_config_path.as_deref(),
        ),
    };
    new.labels = label_args(&flags.label);
    new.snapshot_labels = label_args(&flags.snapshotter_labels);

    let mut spec = SpecBuilder::new(ctx.namespace(), flags.id.clone());
    if let Some(path) = &flags.env_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading env file {}", path.display()))?;
        spec = spec.env(parse_env_file(&text));
    }
    spec = spec.env(flags.env.clone());
    for mount in &flags.mount {
        spec = spec.mount(parse_mount(mount)?);
    }
    if flags.rootfs {
        // A directory has no image config to give a PATH.
        spec = spec.default_path_env();
    }
    spec = spec
        .args(flags.args.clone())
        .readonly_rootfs(flags.read_only)
        .tty(flags.tty)
        .privileged(flags.privileged)
        .host_network(flags.net_host);
    if let Some(cwd) = &flags.cwd {
        spec = spec.cwd(cwd.clone());
    }
    let mut annotations = annotation_args(&flags.annotation).map_err(anyhow::Error::msg)?;
    // ctr puts the labels in the annotations too.
    annotations.extend(label_args(&flags.label));
    spec = spec.annotations(annotations);
    if flags.seccomp {
        spec = spec.seccomp(match &flags.seccomp_profile {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("reading seccomp profile {}", path.display()))?;
                let profile = serde_json::from_slice(&text).with_context(|| {
                    format!(
                        "{} is not a seccomp profile (OCI LinuxSeccomp JSON)",
                        path.display()
                    )
                })?;
                Seccomp::Profile(Box::new(profile))
            }
            None => Seccomp::Default,
        });
    }
    if let Some(cpus) = flags.cpus {
        if flags.cpu_quota.is_some() || flags.cpu_period.is_some() {
            bail!("--cpus and --cpu-quota/--cpu-period should be used separately");
        }
        if cpus > 0.0 {
            spec = spec.cpus(cpus);
        }
    } else if flags.cpu_quota.is_some() || flags.cpu_period.is_some() {
        spec = spec.cpu_cfs(flags.cpu_quota.unwrap_or(-1), flags.cpu_period.unwrap_or(0));
    }
    if let Some(shares) = flags.cpu_shares.or(cpu_shares_default).filter(|s| *s > 0) {
        spec = spec.cpu_shares(shares);
    }
    if let Some(limit) = flags.memory_limit.filter(|l| *l > 0) {
        spec = spec.memory_limit(limit);
    }
    if let Some(user) = &flags.user {
        spec = spec.user(user.clone());
    }
    if let Some(hostname) = &flags.hostname {
        spec = spec.hostname(hostname.clone());
    }
    if flags.allow_new_privs {
        spec = spec.no_new_privileges(false);
    }
    if let Some(cgroup) = &flags.cgroup {
        spec = spec.cgroups_path(cgroup.clone());
    }
    Ok((new, spec))
}

/// Creates the container `flags` describe.
pub async fn create(
    ctx: &Context,
    client: &Client,
    flags: &ContainerFlags,
    cpu_shares_default: Option<u64>,
) -> Result<Container> {
    let (new, spec) = new_container(ctx, flags, cpu_shares_default)?;
    let reference = flags.reference.clone();
    client
        .create_container(new, spec)
        .await
        .map_err(|err| match err.kind() {
            crated_client::ErrorKind::NotFound if !flags.rootfs => anyhow::anyhow!(
                "{err} (run \"{}\" to see images, or use --rootfs to run from a directory)",
                ctx.command_line("images ls")
            ),
            crated_client::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{err} (remove it with \"{}\" or choose another id)",
                ctx.command_line(&format!("containers rm {}", flags.id))
            ),
            _ => anyhow::Error::from(err).context(format!("creating container from {reference}")),
        })
}

/// `cratectl containers run`.
pub async fn run(ctx: &Context, client: &Client, args: RunArgs) -> Result<()> {
    let container = create(ctx, client, &args.container, Some(1024)).await?;
    let id = container.id.clone();
    let result = run_task(ctx, client, &container, &args).await;
    if args.rm {
        // --rm: whatever happened, remove the task, the container and its
        // snapshot.
        delete_task_quietly(client, &id, true).await;
        if let Err(err) = client.delete_container(&id, true).await {
            super::report(&anyhow::Error::from(err).context(format!("removing container {id}")));
        }
    }
    let code = result?;
    if code != 0 {
        return Err(Exit(code).into());
    }
    Ok(())
}

/// Creates and starts the task; unless detached waits for it, deletes it
/// and returns its exit status.
async fn run_task(
    ctx: &Context,
    client: &Client,
    container: &Container,
    args: &RunArgs,
) -> Result<u32> {
    let tty = args.container.tty;
    let io = new_io(&args.io, &container.id, tty, !args.detach)?;
    start_task(
        ctx,
        client,
        container,
        io,
        args.io.pid_file.as_deref(),
        args.detach,
        tty,
    )
    .await
}

/// Creates the task of `container` with `io`, starts it, and in the
/// foreground waits for it and deletes it (`ctr run` / `ctr tasks start`).
/// Returns the exit status (0 when detached).
pub async fn start_task(
    ctx: &Context,
    client: &Client,
    container: &Container,
    io: ProcessIo,
    pid_file: Option<&std::path::Path>,
    detach: bool,
    tty: bool,
) -> Result<u32> {
    let id = container.id.as_str();
    let mut io = io;
    let mut terminal = match Terminal::new(tty && !detach) {
        Ok(terminal) => terminal,
        Err(err) => {
            io.close();
            return Err(err);
        }
    };
    let pid = match client.create_task(container, io.stdio()).await {
        Ok(pid) => pid,
        Err(err) => {
            io.close();
            terminal.restore();
            return Err(
                hints::task_error(ctx, err, id).context(format!("creating the task of {id}"))
            );
        }
    };
    let foreground = (!detach).then(|| Foreground::wait_for(client, id, "", tty));
    if let Some(path) = pid_file {
        write_pid_file(path, pid)?;
    }
    if let Err(err) = client.tasks().start(id, "").await {
        terminal.restore();
        if !detach {
            delete_task_quietly(client, id, true).await;
            io.close();
        }
        return Err(hints::task_error(ctx, err, id).context(format!("starting the task of {id}")));
    }
    let Some(foreground) = foreground else {
        // Detached: the FIFOs stay for attach; the shim holds them open.
        return Ok(0);
    };
    let status = foreground
        .finish(client, id, "", &mut io, &terminal, tty)
        .await;
    terminal.restore();
    let status = match status {
        Ok(status) => status,
        Err(err) => {
            io.close();
            return Err(err);
        }
    };
    let deleted = client.tasks().delete(id).await;
    io.close();
    deleted
        .map_err(|err| anyhow::Error::from(err).context(format!("deleting the task of {id}")))?;
    Ok(status.code)
}
