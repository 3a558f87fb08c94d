//! `cratectl run` and `cratectl create` in docker's shape: the image first,
//! pulled when missing, then the command.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use crated_client::Client;
use crated_client::containers::Container;
use crated_client::images::Platform;
use crated_client::spec::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES, Seccomp, SpecContext};
use crated_client::transfer::{PullOptions, RegistryOptions, validate_pull};
use oci_spec::runtime::{Capability, LinuxPids, Mount, Spec};

use super::{EXIT_CODE_LABEL, LOG_URI_LABEL, logger, normalize};
use crate::args::parse_env_file;
use crate::cli::{ContainerFlags, DockerRunArgs, ProgressMode, PullPolicy};
use crate::commands::images_transfer::{parse_platform, pull_with_progress};
use crate::commands::process::{ProcessIo, StdinMode, fifo_io};
use crate::commands::run::{new_container, start_task};
use crate::commands::tasks::delete_task_quietly;
use crate::commands::{Exit, report};
use crate::context::Context;
use crate::output::print;
use crate::progress::Tracker;

/// `run` (`start` true) or `create`.
pub async fn run(ctx: &Context, client: &Client, args: DockerRunArgs, start: bool) -> Result<()> {
    if let Some(flag) = args.ctr_only.given() {
        bail!(
            "{flag} belongs to ctr's shape of run, which is now \"cratectl containers run [--rootfs] IMAGE|ROOTFS ID [COMMAND]\"; \"cratectl run\" takes docker's shape: run [FLAGS] IMAGE [COMMAND [ARG...]]"
        );
    }
    let reference = normalize(&args.image)?;
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    ensure_image(client, &reference, &args, platform.as_ref()).await?;
    let id = match &args.name {
        Some(name) => name.clone(),
        None => generated_name(&reference),
    };
    let platform = platform.unwrap_or_else(Platform::host);
    let config = image_config(client, &reference, &platform).await?;
    let command = command(&config, args.entrypoint.as_deref(), &args.args);
    if command.is_empty() {
        bail!(
            "no command specified: image {reference} has neither entrypoint nor command; give one after the image"
        );
    }
    let flags = container_flags(&args, &reference, &id, command)?;
    let (mut new, mut spec) = new_container(ctx, &flags, None)?;
    new.platform = platform;
    spec = spec.seccomp(Seccomp::Default);
    for volume in &args.volume {
        spec = spec.mount(bind_mount(volume)?);
    }
    for tmpfs in &args.tmpfs {
        spec = spec.mount(tmpfs_mount(tmpfs)?);
    }
    if !args.cap_add.is_empty() || !args.cap_drop.is_empty() {
        let caps = capabilities(&args.cap_add, &args.cap_drop)?;
        spec = spec.with(move |_: &SpecContext<'_>, spec: &mut Spec| {
            set_capabilities(spec, &caps);
            Ok(())
        });
    }
    if let Some(limit) = args.pids_limit.filter(|l| *l != 0) {
        spec = spec.with(move |_: &SpecContext<'_>, spec: &mut Spec| {
            set_pids_limit(spec, limit);
            Ok(())
        });
    }
    let log = super::log_dir(ctx, client).await?.join(format!("{id}.log"));
    let exe = std::env::current_exe().context("finding the cratectl binary for the log URI")?;
    new.labels
        .insert(LOG_URI_LABEL.to_string(), logger::uri_for(&exe, &log));
    let container = client
        .create_container(new, spec)
        .await
        .map_err(|err| create_error(ctx, err, &id, &reference))?;
    if !start {
        return print(&format!("{id}\n"));
    }
    if args.detach {
        start_detached(ctx, client, &container).await?;
        return print(&format!("{id}\n"));
    }
    let result = foreground(ctx, client, &container, &args).await;
    if args.rm {
        delete_task_quietly(client, &id, true).await;
        if let Err(err) = client.delete_container(&id, true).await {
            report(&anyhow::Error::from(err).context(format!("removing container {id}")));
        }
    } else if let Ok(code) = &result {
        record_exit(client, &id, *code).await;
    }
    match result? {
        0 => Ok(()),
        code => Err(Exit(code).into()),
    }
}

/// Runs the container's task attached to this process; returns its exit
/// status.
async fn foreground(
    ctx: &Context,
    client: &Client,
    container: &Container,
    args: &DockerRunArgs,
) -> Result<u32> {
    let stdin = if args.interactive {
        StdinMode::Copy
    } else {
        StdinMode::Closed
    };
    let io = fifo_io(
        std::path::Path::new(crated_client::cio::DEFAULT_FIFO_DIR),
        &container.id,
        args.tty,
        stdin,
    )?;
    start_task(
        ctx,
        client,
        container,
        ProcessIo::Fifos(io),
        None,
        false,
        args.tty,
    )
    .await
    .map_err(|err| not_executable_hint(err, &args.args))
}

/// Starts the task of `container` in the background, its output going to
/// the log its label names (through the logging program the shim runs).
pub async fn start_detached(ctx: &Context, client: &Client, container: &Container) -> Result<()> {
    let uri = container.labels.get(LOG_URI_LABEL).cloned().ok_or_else(|| {
        anyhow!(
            "container {} was not made by \"cratectl run\" or \"cratectl create\" (no {LOG_URI_LABEL} label): start it with \"{}\"",
            container.id,
            ctx.command_line(&format!("tasks start {}", container.id))
        )
    })?;
    let tty = crate::commands::process::has_terminal(container);
    let stdio = crated_client::tasks::Stdio {
        stdin: String::new(),
        stdout: uri.clone(),
        stderr: uri,
        terminal: tty,
    };
    start_task(
        ctx,
        client,
        container,
        ProcessIo::Direct(stdio),
        None,
        true,
        tty,
    )
    .await?;
    Ok(())
}

/// Records the exit code of a container whose task `cratectl` deleted, for
/// `ps -a` (an empty code clears it).
pub async fn record_exit(client: &Client, id: &str, code: u32) {
    let labels = [(EXIT_CODE_LABEL.to_string(), code.to_string())].into();
    if let Err(err) = client.containers().set_labels(id, labels).await {
        tracing::warn!(id, error = %err, "recording the exit code");
    }
}

/// A command that could not start, with a hint when it may be ctr's
/// `run IMAGE ID COMMAND` read in docker's shape.
fn not_executable_hint(err: anyhow::Error, args: &[String]) -> anyhow::Error {
    let text = crate::commands::error_text(&err);
    let missing = text.contains("executable file not found") || text.contains("no such file");
    if missing && args.len() > 1 {
        return err.context(format!(
            "the command is {:?}: \"cratectl run\" takes run [FLAGS] IMAGE [COMMAND [ARG...]]; for ctr's run IMAGE ID COMMAND use \"cratectl containers run\"",
            args[0]
        ));
    }
    err
}

fn create_error(
    ctx: &Context,
    err: crated_client::Error,
    id: &str,
    reference: &str,
) -> anyhow::Error {
    match err.kind() {
        crated_client::ErrorKind::AlreadyExists => anyhow!(
            "{err} (a container named {id} exists: remove it with \"{}\" or choose another --name)",
            ctx.command_line(&format!("rm {id}"))
        ),
        crated_client::ErrorKind::FailedPrecondition => anyhow!(
            "{err} (pull it again with \"{}\")",
            ctx.command_line(&format!("pull {reference}"))
        ),
        _ => anyhow::Error::from(err).context(format!("creating container {id} from {reference}")),
    }
}

/// Pulls `reference` as `--pull` asks.
async fn ensure_image(
    client: &Client,
    reference: &str,
    args: &DockerRunArgs,
    platform: Option<&Platform>,
) -> Result<()> {
    if args.pull != PullPolicy::Always {
        match client.images().get(reference).await {
            Ok(_) => return Ok(()),
            Err(err) if err.is_not_found() && args.pull == PullPolicy::Never => {
                bail!(
                    "image {reference} is not in the store and --pull=never: pull it first (cratectl pull {reference}) or use --pull=missing"
                );
            }
            Err(err) if err.is_not_found() => {
                eprintln!("Unable to find image '{reference}' locally");
            }
            Err(err) => return Err(err.into()),
        }
    }
    let options = PullOptions {
        registry: RegistryOptions {
            plain_http: args.insecure_registry,
            hosts_dir: args.hosts_dir.clone(),
            credentials: None,
            headers: Default::default(),
        },
        platforms: platform.into_iter().cloned().collect(),
        all_platforms: false,
        unpack: true,
        snapshotter: args.snapshotter.clone(),
        labels: Default::default(),
        name: None,
    };
    validate_pull(&options)?;
    let tracker = Tracker::new(ProgressMode::None, "pulled");
    pull_with_progress(client, reference, &options, tracker).await
}

/// The image config of `reference` for `platform`.
async fn image_config(
    client: &Client,
    reference: &str,
    platform: &Platform,
) -> Result<crated_client::spec::ImageConfig> {
    let image = client.images().get(reference).await?;
    let resolved = crated_client::images::resolve(&client.content(), &image.target, platform)
        .await
        .with_context(|| format!("reading the config of image {reference}"))?;
    Ok(resolved.config.config)
}

/// The process's arguments as docker makes them: the entrypoint (the
/// image's, or `--entrypoint` which also drops the image's command), then
/// the command given, else the image's.
fn command(
    config: &crated_client::spec::ImageConfig,
    entrypoint: Option<&str>,
    args: &[String],
) -> Vec<String> {
    let (mut all, cmd) = match entrypoint {
        Some("") => (Vec::new(), args.to_vec()),
        Some(entrypoint) => (vec![entrypoint.to_string()], args.to_vec()),
        None => (
            config.entrypoint.clone().unwrap_or_default(),
            if args.is_empty() {
                config.cmd.clone().unwrap_or_default()
            } else {
                args.to_vec()
            },
        ),
    };
    all.extend(cmd);
    all
}

/// A readable name for a container of `reference`: the repository's last
/// component and a fresh id.
fn generated_name(reference: &str) -> String {
    let repository = reference
        .split(['@'])
        .next()
        .unwrap_or(reference)
        .rsplit('/')
        .next()
        .unwrap_or("container");
    let base = repository.split(':').next().unwrap_or("container");
    let base: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!(
        "{}-{}",
        base.trim_matches('-'),
        crated_core::identifiers::generate_id().to_ascii_lowercase()
    )
}

/// Docker's `-e KEY`: the caller's value of KEY, or nothing when unset.
fn expand_env(entries: Vec<String>) -> Vec<String> {
    entries
        .into_iter()
        .filter_map(|entry| {
            if entry.contains('=') {
                return Some(entry);
            }
            std::env::var(&entry)
                .ok()
                .map(|value| format!("{entry}={value}"))
        })
        .collect()
}

/// The ctr-shaped flags the docker-shaped ones come to.
fn container_flags(
    args: &DockerRunArgs,
    reference: &str,
    id: &str,
    command: Vec<String>,
) -> Result<ContainerFlags> {
    let mut env = Vec::new();
    for path in &args.env_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading env file {}", path.display()))?;
        env.extend(parse_env_file(&text));
    }
    env.extend(args.env.iter().cloned());
    Ok(ContainerFlags {
        snapshotter: args.snapshotter.clone(),
        snapshotter_labels: Vec::new(),
        rootfs: false,
        cwd: args.workdir.clone(),
        env: expand_env(env),
        env_file: None,
        label: args.label.clone(),
        annotation: Vec::new(),
        mount: Vec::new(),
        net_host: false,
        privileged: args.privileged,
        read_only: args.read_only,
        runtime: args.runtime.clone(),
        runtime_config_path: None,
        runc_binary: None,
        tty: args.tty,
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        memory_limit: args.memory,
        cpus: args.cpus,
        cpu_shares: None,
        cpu_quota: None,
        cpu_period: None,
        seccomp: false,
        seccomp_profile: None,
        allow_new_privs: false,
        cgroup: None,
        reference: reference.to_string(),
        id: id.to_string(),
        args: command,
    })
}

/// `-v HOST:CONTAINER[:ro|rw]` as a bind mount.
fn bind_mount(volume: &str) -> Result<Mount> {
    let parts: Vec<&str> = volume.split(':').collect();
    let (host, target, mode) = match parts.as_slice() {
        [host, target] => (*host, *target, "rw"),
        [host, target, mode @ ("ro" | "rw")] => (*host, *target, *mode),
        _ => bail!("invalid volume {volume:?}: use HOST:CONTAINER[:ro|rw]"),
    };
    if !host.starts_with('/') {
        bail!(
            "invalid volume {volume:?}: named volumes are not supported yet; give an absolute host path"
        );
    }
    if !target.starts_with('/') {
        bail!("invalid volume {volume:?}: the container path must be absolute");
    }
    let mut mount = Mount::default();
    mount
        .set_destination(PathBuf::from(target))
        .set_typ(Some("bind".to_string()))
        .set_source(Some(PathBuf::from(host)))
        .set_options(Some(vec!["rbind".to_string(), mode.to_string()]));
    Ok(mount)
}

/// `--tmpfs CONTAINER[:OPTIONS]` (options comma-separated, as docker's).
fn tmpfs_mount(tmpfs: &str) -> Result<Mount> {
    let (target, options) = tmpfs.split_once(':').unwrap_or((tmpfs, ""));
    if !target.starts_with('/') {
        bail!("invalid tmpfs {tmpfs:?}: use an absolute CONTAINER path, e.g. /run:size=64m");
    }
    let mut all = vec![
        "nosuid".to_string(),
        "nodev".to_string(),
        "noexec".to_string(),
    ];
    all.extend(
        options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from),
    );
    let mut mount = Mount::default();
    mount
        .set_destination(PathBuf::from(target))
        .set_typ(Some("tmpfs".to_string()))
        .set_source(Some(PathBuf::from("tmpfs")))
        .set_options(Some(all));
    Ok(mount)
}

fn parse_capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    // The OCI names (CAP_…) are the serde names of the type.
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| anyhow!("unknown capability {name:?} (examples: NET_ADMIN, SYS_PTRACE, ALL)"))
}

fn capability_set(names: &[&str]) -> Result<HashSet<Capability>> {
    names.iter().map(|n| parse_capability(n)).collect()
}

/// The capabilities after `--cap-add` and `--cap-drop` as docker computes
/// them: ALL in the adds starts from every capability, ALL in the drops
/// from none, else from the default set; then the drops go and the adds
/// come.
fn capabilities(add: &[String], drop: &[String]) -> Result<HashSet<Capability>> {
    let is_all = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case("ALL"));
    let mut caps = if is_all(add) {
        capability_set(ALL_CAPABILITIES)?
    } else if is_all(drop) {
        HashSet::new()
    } else {
        capability_set(DEFAULT_CAPABILITIES)?
    };
    for name in drop.iter().filter(|n| !n.eq_ignore_ascii_case("ALL")) {
        caps.remove(&parse_capability(name)?);
    }
    for name in add.iter().filter(|n| !n.eq_ignore_ascii_case("ALL")) {
        caps.insert(parse_capability(name)?);
    }
    Ok(caps)
}

fn set_capabilities(spec: &mut Spec, caps: &HashSet<Capability>) {
    if let Some(process) = spec.process_mut() {
        let mut set = process.capabilities().clone().unwrap_or_default();
        set.set_bounding(Some(caps.clone()))
            .set_effective(Some(caps.clone()))
            .set_permitted(Some(caps.clone()));
        process.set_capabilities(Some(set));
    }
}

fn set_pids_limit(spec: &mut Spec, limit: i64) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut pids = LinuxPids::default();
    pids.set_limit(limit);
    resources.set_pids(Some(pids));
    linux.set_resources(Some(resources));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entrypoint: &[&str], cmd: &[&str]) -> crated_client::spec::ImageConfig {
        let strings = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect());
        crated_client::spec::ImageConfig {
            entrypoint: strings(entrypoint),
            cmd: strings(cmd),
            ..Default::default()
        }
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn commands_like_docker() {
        let c = config(&["/entry"], &["default"]);
        assert_eq!(command(&c, None, &[]), strings(&["/entry", "default"]));
        assert_eq!(
            command(&c, None, &strings(&["mine", "-x"])),
            strings(&["/entry", "mine", "-x"])
        );
        assert_eq!(command(&c, Some("/other"), &[]), strings(&["/other"]));
        assert_eq!(command(&c, Some(""), &strings(&["sh"])), strings(&["sh"]));
        assert!(command(&config(&[], &[]), None, &[]).is_empty());
    }

    #[test]
    fn volumes_and_tmpfs() {
        let m = bind_mount("/srv/data:/data:ro").unwrap();
        assert_eq!(m.destination(), &PathBuf::from("/data"));
        assert_eq!(
            m.source().as_deref(),
            Some(std::path::Path::new("/srv/data"))
        );
        assert_eq!(m.options().as_deref(), Some(&strings(&["rbind", "ro"])[..]));
        assert_eq!(
            bind_mount("/a:/b").unwrap().options().as_deref(),
            Some(&strings(&["rbind", "rw"])[..])
        );
        assert!(bind_mount("named:/data").is_err());
        assert!(bind_mount("/a:rel").is_err());
        assert!(bind_mount("/a:/b:rx").is_err());
        let t = tmpfs_mount("/run:size=64m,mode=1777").unwrap();
        assert_eq!(t.typ().as_deref(), Some("tmpfs"));
        assert!(
            t.options()
                .as_ref()
                .unwrap()
                .contains(&"size=64m".to_string())
        );
        assert!(tmpfs_mount("run").is_err());
    }

    #[test]
    fn capabilities_like_docker() {
        let caps = capabilities(&strings(&["net_admin"]), &strings(&["CHOWN"])).unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Chown));
        assert!(caps.contains(&Capability::Kill));
        let caps = capabilities(&strings(&["NET_RAW"]), &strings(&["ALL"])).unwrap();
        assert_eq!(caps, [Capability::NetRaw].into());
        let caps = capabilities(&strings(&["ALL"]), &strings(&["SYS_ADMIN"])).unwrap();
        assert!(caps.contains(&Capability::SysPtrace) && !caps.contains(&Capability::SysAdmin));
        assert!(capabilities(&strings(&["BOGUS"]), &[]).is_err());
    }

    #[test]
    fn generated_names_are_readable_identifiers() {
        let name = generated_name("docker.io/library/busybox:latest");
        assert!(name.starts_with("busybox-"), "{name}");
        assert!(crated_core::identifiers::validate(&name).is_ok(), "{name}");
        let name = generated_name("localhost:5000/my_app@sha256:abc");
        assert!(name.starts_with("my-app-"), "{name}");
    }
}
