//! Command line of the commands that move images: `images pull|push|
//! import|export|mount|unmount|usage|prune` and `content fetch`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// The snapshotter crated and containerd use when none is named.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// `images` subcommands that move images between the store, registries,
/// archives and the file system.
#[derive(Debug, Subcommand)]
pub enum ImagesTransferCommand {
    /// Pull an image from a registry: the daemon fetches the layers in
    /// parallel and unpacks them as they arrive.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(PushArgs),
    /// Import images from an OCI image layout or `docker save` tar.
    Import(ImportArgs),
    /// Export images to an OCI image layout tar (`docker load` reads it).
    Export(ExportArgs),
    /// Mount an image's root filesystem on a directory (unpacking it first
    /// if needed).
    Mount(MountArgs),
    /// Unmount an image mounted with `images mount` and remove its view.
    Unmount(UnmountArgs),
    /// Show the disk usage of the snapshots of an unpacked image.
    Usage(UsageArgs),
    /// Remove images that no container uses.
    Prune(PruneArgs),
}

/// How the daemon reaches a registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryFlags {
    /// Talk to the registry over HTTP instead of HTTPS.
    #[arg(long)]
    pub plain_http: bool,
    /// Directory of registry configurations (`<dir>/<host>/hosts.toml`).
    #[arg(long)]
    pub hosts_dir: Option<PathBuf>,
    /// Registry credentials as user:password (with no password, it is read
    /// from the first line of stdin).
    #[arg(short, long)]
    pub user: Option<String>,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Bars.
    Tty,
    /// One line per change: `<name>: <state> <bytes>/<total>`.
    Plain,
    /// Nothing but the result.
    None,
}

/// Which platforms of a multi-platform image.
#[derive(Debug, Clone, Args)]
pub struct PlatformsFlags {
    /// A platform to take, e.g. linux/arm64 (repeatable); the host's by
    /// default.
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Every platform.
    #[arg(long, conflicts_with = "platforms")]
    pub all_platforms: bool,
}

/// `images pull` arguments.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Platforms.
    #[command(flatten)]
    pub platforms: PlatformsFlags,
    /// Snapshotter to unpack into.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// Fetch the content only; do not unpack.
    #[arg(long)]
    pub no_unpack: bool,
    /// Labels of the image record, as key=value.
    #[arg(long)]
    pub label: Vec<String>,
    /// How to show progress.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// The image reference, e.g. docker.io/library/busybox:latest.
    pub reference: String,
}

/// `images push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// How to show progress.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Where to push, e.g. localhost:5000/app:1.
    pub remote: String,
    /// The image to push; the remote reference by default.
    pub local: Option<String>,
}

/// `images import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Name images the archive names only by tag (or not at all) with this
    /// base, e.g. docker.io/library/app.
    #[arg(long)]
    pub base_name: Option<String>,
    /// The platform to keep and unpack; the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
    /// Keep every platform of the archive.
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// Do not unpack the images.
    #[arg(long)]
    pub no_unpack: bool,
    /// Snapshotter to unpack into.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// Labels of the image records, as key=value.
    #[arg(long)]
    pub label: Vec<String>,
    /// The archive; `-` reads stdin.
    pub file: PathBuf,
}

/// `images export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The platform to export; the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
    /// Export every platform (all of them must be present).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
    /// The archive to write; `-` writes to stdout.
    pub output: PathBuf,
    /// The images.
    #[arg(required = true)]
    pub references: Vec<String>,
}

/// `images mount` arguments.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// Snapshotter holding (or to unpack) the image.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// The platform to mount; the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
    /// Mount a writable snapshot instead of a read-only view.
    #[arg(long)]
    pub rw: bool,
    /// The image.
    pub reference: String,
    /// The directory to mount on.
    pub target: PathBuf,
}

/// `images unmount` arguments.
#[derive(Debug, Args)]
pub struct UnmountArgs {
    /// Snapshotter the image was mounted from.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// Remove the snapshot and its lease (the default; kept for ctr's
    /// command lines).
    #[arg(long)]
    pub rm: bool,
    /// Keep the snapshot and its lease.
    #[arg(long, conflicts_with = "rm")]
    pub keep_snapshot: bool,
    /// The directory the image is mounted on.
    pub target: PathBuf,
}

/// `images usage` arguments.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Snapshotter the image is unpacked in.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// The platform; the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
    /// The image.
    pub reference: String,
}

/// `images prune` arguments.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses (without it nothing is
    /// removed, as with ctr).
    #[arg(long)]
    pub all: bool,
    /// Also remove what only the images held before returning.
    #[arg(long)]
    pub sync: bool,
}

/// `content fetch` arguments.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Platforms.
    #[command(flatten)]
    pub platforms: PlatformsFlags,
    /// How to show progress.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// The image reference.
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command, ContentCommand, ImagesArgs, ImagesCommand};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cratectl").chain(args.iter().copied()))
    }

    fn transfer(args: &[&str]) -> ImagesTransferCommand {
        match parse(args).map(|cli| cli.command) {
            Ok(Command::Images(ImagesArgs {
                command: Some(ImagesCommand::Transfer(command)),
                ..
            })) => command,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn pull_flags() {
        let ImagesTransferCommand::Pull(pull) = transfer(&[
            "images",
            "pull",
            "--plain-http",
            "--hosts-dir",
            "/etc/containerd/certs.d",
            "-u",
            "me:pw",
            "--platform",
            "linux/arm64",
            "--platform",
            "linux/amd64",
            "--snapshotter",
            "native",
            "--progress",
            "plain",
            "localhost:5000/busybox:1",
        ]) else {
            panic!("not a pull");
        };
        assert!(pull.registry.plain_http);
        assert_eq!(
            pull.registry.hosts_dir,
            Some(PathBuf::from("/etc/containerd/certs.d"))
        );
        assert_eq!(pull.registry.user.as_deref(), Some("me:pw"));
        assert_eq!(pull.platforms.platforms, vec!["linux/arm64", "linux/amd64"]);
        assert_eq!(pull.snapshotter, "native");
        assert_eq!(pull.progress, ProgressMode::Plain);
        assert!(!pull.no_unpack);
        assert_eq!(pull.reference, "localhost:5000/busybox:1");
    }

    #[test]
    fn pull_defaults_and_conflicts() {
        // The environment may name a snapshotter; only check it is set.
        let ImagesTransferCommand::Pull(pull) = transfer(&["i", "pull", "r:1"]) else {
            panic!("not a pull");
        };
        assert!(!pull.snapshotter.is_empty());
        assert_eq!(pull.progress, ProgressMode::Auto);
        assert!(!pull.registry.plain_http);
        assert!(
            parse(&[
                "images",
                "pull",
                "--all-platforms",
                "--platform",
                "linux/amd64",
                "r"
            ])
            .is_err()
        );
        assert!(parse(&["images", "pull"]).is_err());
    }

    #[test]
    fn push_import_export() {
        let ImagesTransferCommand::Push(push) = transfer(&[
            "images",
            "push",
            "--plain-http",
            "localhost:5000/a:1",
            "a:1",
        ]) else {
            panic!("not a push");
        };
        assert_eq!(push.remote, "localhost:5000/a:1");
        assert_eq!(push.local.as_deref(), Some("a:1"));

        let ImagesTransferCommand::Import(import) = transfer(&[
            "images",
            "import",
            "--base-name",
            "docker.io/library/app",
            "--no-unpack",
            "--all-platforms",
            "-",
        ]) else {
            panic!("not an import");
        };
        assert_eq!(import.file, PathBuf::from("-"));
        assert!(import.no_unpack && import.all_platforms);
        assert!(
            parse(&[
                "images",
                "import",
                "--all-platforms",
                "--platform",
                "linux/amd64",
                "x.tar"
            ])
            .is_err()
        );

        let ImagesTransferCommand::Export(export) =
            transfer(&["images", "export", "out.tar", "a:1", "b:2"])
        else {
            panic!("not an export");
        };
        assert_eq!(export.references, vec!["a:1", "b:2"]);
        assert!(parse(&["images", "export", "out.tar"]).is_err());
    }

    #[test]
    fn mount_unmount_usage_prune() {
        let ImagesTransferCommand::Mount(mount) =
            transfer(&["images", "mount", "--rw", "a:1", "/mnt"])
        else {
            panic!("not a mount");
        };
        assert!(mount.rw);
        assert_eq!(mount.target, PathBuf::from("/mnt"));
        let ImagesTransferCommand::Unmount(unmount) =
            transfer(&["images", "unmount", "--rm", "/mnt"])
        else {
            panic!("not an unmount");
        };
        assert!(unmount.rm && !unmount.keep_snapshot);
        assert!(parse(&["images", "unmount", "--rm", "--keep-snapshot", "/mnt"]).is_err());
        assert!(matches!(
            transfer(&["images", "usage", "a:1"]),
            ImagesTransferCommand::Usage(_)
        ));
        let ImagesTransferCommand::Prune(prune) = transfer(&["images", "prune", "--all"]) else {
            panic!("not a prune");
        };
        assert!(prune.all && !prune.sync);
    }

    #[test]
    fn content_fetch() {
        match parse(&["content", "fetch", "--all-platforms", "--plain-http", "r:1"])
            .map(|c| c.command)
        {
            Ok(Command::Content(ContentCommand::Fetch(fetch))) => {
                assert!(fetch.platforms.all_platforms);
                assert!(fetch.registry.plain_http);
                assert_eq!(fetch.reference, "r:1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_other_images_commands_still_parse() {
        let cli = parse(&["images", "ls", "-q"]).map(|c| c.command);
        assert!(matches!(
            cli,
            Ok(Command::Images(ImagesArgs {
                command: Some(ImagesCommand::Ls { .. }),
                ..
            }))
        ));
    }
}
