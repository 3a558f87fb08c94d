//! `cratectl images pull|push|import|export|mount|unmount|usage|prune` and
//! `content fetch`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use crated_client::Client;
use crated_client::import_export::{self, ExportOptions, ImportOptions};
use crated_client::leases::LeaseOptions;
use crated_client::transfer::{
    Credentials, Platform, PullOptions, PushOptions, RegistryOptions, Transfer, validate_pull,
};
use serde::Serialize;

use crate::args::label_args;
use crate::cli::{
    ExportArgs, FetchArgs, ImagesTransferCommand, ImportArgs, MountArgs, PlatformsFlags, PruneArgs,
    PullArgs, PushArgs, RegistryFlags, UnmountArgs, UsageArgs,
};
use crate::commands::{Reported, report};
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, print, print_json};
use crate::progress::Tracker;

/// How long the lease of an `images mount` lives, as with ctr.
const MOUNT_LEASE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// Runs an `images` subcommand that moves images.
pub async fn run(ctx: &Context, client: &Client, command: ImagesTransferCommand) -> Result<()> {
    match command {
        ImagesTransferCommand::Pull(args) => pull(client, args).await,
        ImagesTransferCommand::Push(args) => push(ctx, client, args).await,
        ImagesTransferCommand::Import(args) => import(client, args).await,
        ImagesTransferCommand::Export(args) => export(ctx, client, args).await,
        ImagesTransferCommand::Mount(args) => mount(ctx, client, args).await,
        ImagesTransferCommand::Unmount(args) => unmount(client, args).await,
        ImagesTransferCommand::Usage(args) => usage(ctx, client, args).await,
        ImagesTransferCommand::Prune(args) => prune(client, args).await,
    }
}

fn not_found(ctx: &Context, err: crated_client::Error) -> anyhow::Error {
    hints::not_found(err, &ctx.command_line("images ls"), "images")
}

/// Parses `--platform` values.
pub fn parse_platform(text: &str) -> Result<Platform> {
    Platform::parse(text)
        .map(|p| p.normalized())
        .map_err(|e| anyhow!("invalid platform {text:?}: {e}"))
}

fn optional_platform(text: Option<&str>) -> Result<Option<Platform>> {
    text.map(parse_platform).transpose()
}

/// The registry options of the flags; a `--user` without a password reads
/// it from the first line of `stdin`.
pub fn registry_options(flags: &RegistryFlags, stdin: impl BufRead) -> Result<RegistryOptions> {
    let credentials = match flags.user.as_deref() {
        None => None,
        Some(user) => match Credentials::parse(user) {
            Some(credentials) => Some(credentials),
            None => {
                let mut line = String::new();
                let mut stdin = stdin;
                stdin
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                let secret = line.trim_end_matches(['\r', '\n']).to_string();
                if secret.is_empty() {
                    bail!(
                        "--user {user:?} has no password: give user:password or the password on stdin"
                    );
                }
                Some(Credentials {
                    user: user.to_string(),
                    secret,
                })
            }
        },
    };
    Ok(RegistryOptions {
        plain_http: flags.plain_http,
        hosts_dir: flags.hosts_dir.clone(),
        credentials,
        headers: Default::default(),
    })
}

/// The pull options of `images pull` (and, without unpacking, of
/// `content fetch`).
pub fn pull_options(
    registry: &RegistryFlags,
    platforms: &PlatformsFlags,
    unpack: bool,
    snapshotter: &str,
    labels: &[String],
) -> Result<PullOptions> {
    let options = PullOptions {
        registry: registry_options(registry, std::io::stdin().lock())?,
        platforms: platforms
            .platforms
            .iter()
            .map(|p| parse_platform(p))
            .collect::<Result<_>>()?,
        all_platforms: platforms.all_platforms,
        unpack,
        snapshotter: snapshotter.to_string(),
        labels: label_args(labels),
        name: None,
    };
    validate_pull(&options)?;
    Ok(options)
}

/// Pulls `reference` with `options`, showing progress with `tracker`.
pub async fn pull_with_progress(
    client: &Client,
    reference: &str,
    options: &PullOptions,
    tracker: Tracker,
) -> Result<()> {
    let mut tracker = tracker;
    let result = Transfer::new(client)
        .pull(reference, options, |p| tracker.update(p))
        .await;
    tracker.finish(result.is_ok());
    result.with_context(|| format!("pulling {reference}"))
}

/// Pulls an image with progress (`images pull`, `pull`).
pub async fn pull(client: &Client, args: PullArgs) -> Result<()> {
    let options = pull_options(
        &args.registry,
        &args.platforms,
        !args.no_unpack,
        &args.snapshotter,
        &args.label,
    )?;
    let tracker = Tracker::new(args.progress, "pulled");
    pull_with_progress(client, &args.reference, &options, tracker).await
}

/// `content fetch`: a pull that only fetches.
pub async fn fetch(client: &Client, args: FetchArgs) -> Result<()> {
    let options = pull_options(&args.registry, &args.platforms, false, "", &[])?;
    let tracker = Tracker::new(args.progress, "fetched");
    pull_with_progress(client, &args.reference, &options, tracker).await
}

async fn push(ctx: &Context, client: &Client, args: PushArgs) -> Result<()> {
    let local = args.local.clone().unwrap_or_else(|| args.remote.clone());
    // A clearer error than the transfer's for a missing image.
    client
        .images()
        .get(&local)
        .await
        .map_err(|e| not_found(ctx, e))?;
    let options = PushOptions {
        registry: registry_options(&args.registry, std::io::stdin().lock())?,
    };
    let mut tracker = Tracker::new(args.progress, "pushed");
    let result = Transfer::new(client)
        .push(&local, &args.remote, &options, |p| tracker.update(p))
        .await;
    tracker.finish(result.is_ok());
    result.with_context(|| format!("pushing {local} to {}", args.remote))
}

async fn import(client: &Client, args: ImportArgs) -> Result<()> {
    let options = ImportOptions {
        base_name: args.base_name.clone(),
        all_platforms: args.all_platforms,
        platform: optional_platform(args.platform.as_deref())?,
        unpack: !args.no_unpack,
        snapshotter: args.snapshotter.clone(),
        labels: label_args(&args.label),
    };
    let imported = if args.file == Path::new("-") {
        import_export::import(client, std::io::stdin(), &options).await
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        import_export::import(client, file, &options).await
    }
    .with_context(|| format!("importing {}", args.file.display()))?;
    let mut out = String::new();
    for image in &imported {
        out.push_str(&format!(
            "{}: imported {}\n",
            image.name, image.target.digest
        ));
        if let Some(chain_id) = &image.unpacked {
            out.push_str(&format!(
                "{}: unpacked {} into {}\n",
                image.name, chain_id, args.snapshotter
            ));
        }
    }
    print(&out)
}

async fn export(ctx: &Context, client: &Client, args: ExportArgs) -> Result<()> {
    let options = ExportOptions {
        all_platforms: args.all_platforms,
        platform: optional_platform(args.platform.as_deref())?,
    };
    for reference in &args.references {
        client
            .images()
            .get(reference)
            .await
            .map_err(|e| not_found(ctx, e))?;
    }
    if args.output == Path::new("-") {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!(
                "refusing to write an image archive to a terminal: give a file name or redirect stdout"
            );
        }
        import_export::export(client, &args.references, std::io::stdout(), &options).await?;
        return Ok(());
    }
    let partial = partial_path(&args.output);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let result = import_export::export(
        client,
        &args.references,
        std::io::BufWriter::with_capacity(1 << 20, file),
        &options,
    )
    .await;
    match result {
        Ok(mut writer) => {
            writer.flush().context("writing the archive")?;
            drop(writer);
            std::fs::rename(&partial, &args.output)
                .with_context(|| format!("renaming to {}", args.output.display()))?;
            Ok(())
        }
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            Err(err).context(format!("exporting to {}", args.output.display()))
        }
    }
}

/// Where an archive is written before it is complete.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

fn mount_from_api(m: crated_client::api::types::Mount) -> crated_mount::Mount {
    crated_mount::Mount {
        mount_type: m.r#type,
        source: m.source,
        target: m.target,
        options: m.options,
    }
}

/// The lease (and snapshot key) of an image mounted on `target`: the
/// absolute path, as ctr names them.
fn mount_key(target: &Path) -> Result<String> {
    let absolute = std::fs::canonicalize(target)
        .with_context(|| format!("the mount target {}", target.display()))?;
    Ok(absolute.display().to_string())
}

async fn mount(ctx: &Context, client: &Client, args: MountArgs) -> Result<()> {
    let key = mount_key(&args.target)?;
    let platform = optional_platform(args.platform.as_deref())?.unwrap_or_else(Platform::host);
    let image = client
        .images()
        .get(&args.reference)
        .await
        .map_err(|e| not_found(ctx, e))?;
    let lease = LeaseOptions {
        id: Some(key.clone()),
        labels: [(
            format!("containerd.io/gc.ref.snapshot.{}", args.snapshotter),
            key.clone(),
        )]
        .into(),
        expires: Some(MOUNT_LEASE_EXPIRY),
    };
    match client.leases().create(lease).await {
        Ok(_) => {}
        Err(err) if err.is_already_exists() => {}
        Err(err) => return Err(err.into()),
    }
    let result = mount_under_lease(client, &args, &key, &image, &platform).await;
    if result.is_err() {
        let _ = client.leases().delete(&key, false).await;
    }
    let chain_id = result?;
    print(&format!("{chain_id}\n{key}\n"))
}

async fn mount_under_lease(
    client: &Client,
    args: &MountArgs,
    key: &str,
    image: &crated_client::images::Image,
    platform: &Platform,
) -> Result<String> {
    let unpacked = import_export::unpack(client, &image.target, platform, &args.snapshotter)
        .await
        .with_context(|| format!("unpacking {}", image.name))?;
    let snapshots = client.with_lease(key).snapshots(args.snapshotter.clone());
    let created = if args.rw {
        snapshots
            .prepare(key, &unpacked.chain_id, Default::default())
            .await
    } else {
        snapshots
            .view(key, &unpacked.chain_id, Default::default())
            .await
    };
    let mounts = match created {
        Ok(mounts) => mounts,
        Err(err) if err.is_already_exists() => snapshots.mounts(key).await?,
        Err(err) => return Err(err.into()),
    };
    let mounts: Vec<crated_mount::Mount> = mounts.into_iter().map(mount_from_api).collect();
    let target = PathBuf::from(key);
    let mounted = tokio::task::spawn_blocking(move || crated_mount::mount_all(&mounts, &target))
        .await
        .context("mount task")?;
    if let Err(err) = mounted {
        if let Err(e) = snapshots.remove(key).await
            && !e.is_not_found()
        {
            eprintln!("cratectl: removing the snapshot after the failed mount: {e}");
        }
        return Err(anyhow!(err).context(format!("mounting {} on {key}", image.name)));
    }
    Ok(unpacked.chain_id)
}

async fn unmount(client: &Client, args: UnmountArgs) -> Result<()> {
    let key = mount_key(&args.target)?;
    let target = PathBuf::from(&key);
    tokio::task::spawn_blocking(move || crated_mount::unmount_all(&target))
        .await
        .context("unmount task")?
        .with_context(|| format!("unmounting {key}"))?;
    if !args.keep_snapshot {
        match client.leases().delete(&key, false).await {
            Err(err) if !err.is_not_found() => {
                return Err(anyhow!(err).context("deleting the mount's lease"));
            }
            _ => {}
        }
        match client
            .snapshots(args.snapshotter.clone())
            .remove(&key)
            .await
        {
            Err(err) if !err.is_not_found() => {
                return Err(anyhow!(err).context("removing the mount's snapshot"));
            }
            _ => {}
        }
    }
    print(&format!("{key}\n"))
}

#[derive(Serialize)]
struct UsageRow {
    key: String,
    size: i64,
    inodes: i64,
}

async fn usage(ctx: &Context, client: &Client, args: UsageArgs) -> Result<()> {
    let platform = optional_platform(args.platform.as_deref())?.unwrap_or_else(Platform::host);
    let image = client
        .images()
        .get(&args.reference)
        .await
        .map_err(|e| not_found(ctx, e))?;
    let snapshots = client.snapshots(args.snapshotter.clone());
    let mut key = import_export::chain_id(client, &image.target.clone(), &platform).await?;
    match snapshots.stat(&key).await {
        Ok(_) => {}
        Err(err) if err.is_not_found() => bail!(
            "image {} isn't unpacked in snapshotter {} (unpack it with \"{}\")",
            args.reference,
            args.snapshotter,
            ctx.command_line(&format!(
                "snapshots --snapshotter {} unpack {}",
                args.snapshotter, args.reference
            ))
        ),
        Err(err) => return Err(err.into()),
    }
    let mut rows = Vec::new();
    while !key.is_empty() {
        let usage = snapshots
            .usage(&key)
            .await
            .with_context(|| format!("usage of snapshot {key}"))?;
        let parent = snapshots.stat(&key).await?.parent;
        rows.push(UsageRow {
            key,
            size: usage.size,
            inodes: usage.inodes,
        });
        key = parent;
    }
    if ctx.json() {
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["KEY", "SIZE", "INODES"]);
    for row in &rows {
        tw.row(&[
            row.key.clone(),
            human::bytes(row.size),
            row.inodes.to_string(),
        ]);
    }
    print(&tw.finish())
}

async fn prune(client: &Client, args: PruneArgs) -> Result<()> {
    if !args.all {
        eprintln!("No images removed: --all removes every image that no container uses");
        return Ok(());
    }
    let used: HashSet<String> = client
        .containers()
        .list(&[])
        .await?
        .into_iter()
        .map(|c| c.image)
        .collect();
    let unused: Vec<String> = client
        .images()
        .list(&[])
        .await?
        .into_iter()
        .map(|i| i.name)
        .filter(|name| !used.contains(name))
        .collect();
    let mut failed = false;
    let mut out = String::new();
    for (i, name) in unused.iter().enumerate() {
        // Collect once, after the last removal.
        let sync = args.sync && i + 1 == unused.len();
        match client.images().delete(name, sync).await {
            Ok(()) => out.push_str(&format!("{name}\n")),
            Err(err) if err.is_not_found() => {}
            Err(err) => {
                failed = true;
                report(&anyhow!(err).context(format!("removing {name}")));
            }
        }
    }
    print(&out)?;
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(user: Option<&str>) -> RegistryFlags {
        RegistryFlags {
            plain_http: true,
            hosts_dir: None,
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn users_with_and_without_passwords() {
        let none = registry_options(&flags(None), &b""[..]).unwrap();
        assert!(none.credentials.is_none());
        assert!(none.plain_http);
        let inline = registry_options(&flags(Some("u:p")), &b""[..]).unwrap();
        assert_eq!(inline.credentials.map(|c| c.secret), Some("p".to_string()));
        let stdin = registry_options(&flags(Some("u")), &b"secret\nrest"[..]).unwrap();
        let c = stdin.credentials.unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str()), ("u", "secret"));
        assert!(registry_options(&flags(Some("u")), &b""[..]).is_err());
    }

    #[test]
    fn platforms_are_parsed_and_normalized() {
        let p = parse_platform("linux/aarch64").unwrap();
        assert_eq!(p.architecture, "arm64");
        assert!(parse_platform("").is_err());
        let all = PlatformsFlags {
            platforms: vec!["linux/amd64".into()],
            all_platforms: true,
        };
        assert!(pull_options(&flags(None), &all, true, "native", &[]).is_err());
        let one = PlatformsFlags {
            platforms: vec!["linux/amd64".into()],
            all_platforms: false,
        };
        let options = pull_options(&flags(None), &one, true, "native", &["a=b".into()]).unwrap();
        assert_eq!(options.platforms.len(), 1);
        assert_eq!(options.snapshotter, "native");
        assert_eq!(options.labels["a"], "b");
    }

    #[test]
    fn partial_archives_sit_next_to_the_output() {
        assert_eq!(
            partial_path(Path::new("/tmp/out.tar")),
            PathBuf::from("/tmp/out.tar.partial")
        );
    }
}
