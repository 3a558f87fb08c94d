//! The command line, as clap types.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::args::{parse_bytes, parse_duration};

mod docker;
mod images_transfer;
mod snapshots;

pub use docker::{
    DockerCommand, ExecArgs, KillArgs, LogsArgs, PsArgs, PullPolicy, RmArgs, RmiArgs,
    RunArgs as DockerRunArgs, StopArgs, TagArgs,
};

pub use images_transfer::{
    ExportArgs, FetchArgs, ImagesTransferCommand, ImportArgs, MountArgs, PlatformsFlags,
    ProgressMode, PruneArgs, PullArgs, PushArgs, RegistryFlags, UnmountArgs, UsageArgs,
};
pub use snapshots::{SnapshotsArgs, SnapshotsCommand};

/// Where crated listens by default.
pub const DEFAULT_ADDRESS: &str = "/run/crated/crated.sock";

/// cratectl: the command line client of crated (and containerd).
#[derive(Debug, Parser)]
#[command(name = "cratectl", version, about, propagate_version = true)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Address of the daemon's gRPC socket (before the command, as with
    /// ctr: `ps -a` is docker's --all).
    #[arg(
        short,
        long,
        env = "CONTAINERD_ADDRESS",
        default_value = DEFAULT_ADDRESS
    )]
    pub address: PathBuf,
    /// Namespace to work in.
    #[arg(
        short,
        long,
        global = true,
        env = "CONTAINERD_NAMESPACE",
        default_value = "default"
    )]
    pub namespace: String,
    /// Timeout for each request, e.g. 10s or 1m30s (0 waits forever).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "0s")]
    pub timeout: Duration,
    /// Timeout for connecting to the daemon (0 waits forever).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Log what cratectl does to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Output format of listings and information.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the client and server versions.
    Version,
    /// Print information about the server.
    Info,
    /// Show the daemon's plugins.
    #[command(subcommand, visible_alias = "plugin")]
    Plugins(PluginsCommand),
    /// Manage namespaces.
    #[command(subcommand, visible_aliases = ["namespace", "ns"])]
    Namespaces(NamespacesCommand),
    /// Manage content (blobs and ingests).
    #[command(subcommand)]
    Content(ContentCommand),
    /// Manage leases.
    #[command(subcommand, visible_alias = "lease")]
    Leases(LeasesCommand),
    /// Print events as they happen.
    #[command(visible_alias = "event")]
    Events(EventsArgs),
    /// The docker-shaped verbs.
    #[command(flatten)]
    Docker(DockerCommand),
    /// Manage containers.
    #[command(subcommand, visible_aliases = ["c", "container"])]
    Containers(ContainersCommand),
    /// Manage tasks (the running processes of containers).
    #[command(subcommand, visible_aliases = ["t", "task"])]
    Tasks(TasksCommand),
    /// List images (docker's `images`), or manage them.
    #[command(visible_aliases = ["i", "image"], args_conflicts_with_subcommands = true)]
    Images(ImagesArgs),
    /// Manage snapshots.
    #[command(visible_alias = "snapshot")]
    Snapshots(SnapshotsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The logging program the shim runs for a container started detached
    /// (`binary://` log URI): appends its stdout and stderr to PATH as
    /// JSON lines.
    #[command(name = "internal-logger", hide = true)]
    InternalLogger {
        /// The log file.
        path: PathBuf,
    },
}

/// `images` arguments: a subcommand, or none to list images.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print only the references (without a subcommand).
    #[arg(short, long)]
    pub quiet: bool,
    /// What to do; without one, list the images.
    #[command(subcommand)]
    pub command: Option<ImagesCommand>,
}

/// Options that shape a new container (`ctr`'s container flags).
#[derive(Debug, Clone, Args)]
pub struct ContainerFlags {
    /// Snapshotter holding the image.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = "overlayfs")]
    pub snapshotter: String,
    /// Labels for the container's new snapshot, as key=value.
    #[arg(long = "snapshotter-label")]
    pub snapshotter_labels: Vec<String>,
    /// Use the first argument as a root filesystem directory instead of an
    /// image (no snapshot).
    #[arg(long)]
    pub rootfs: bool,
    /// Working directory of the process.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variables, as KEY=value (KEY alone removes it).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// A file of environment variables, one KEY=value a line.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Container labels, as key=value.
    #[arg(long)]
    pub label: Vec<String>,
    /// OCI annotations, as key=value.
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Extra mounts, e.g. type=bind,src=/tmp,dst=/host,options=rbind:ro.
    #[arg(long)]
    pub mount: Vec<String>,
    /// Use the host's network namespace.
    #[arg(long)]
    pub net_host: bool,
    /// Run privileged: all capabilities and devices, no confinement.
    #[arg(long)]
    pub privileged: bool,
    /// Make the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Runtime name.
    #[arg(long, default_value = crated_client::runtime_options::DEFAULT_RUNTIME)]
    pub runtime: String,
    /// Runtime config file (runtimes other than io.containerd.runc.v2).
    #[arg(long)]
    pub runtime_config_path: Option<String>,
    /// runc-compatible binary for io.containerd.runc.v2, e.g. crun.
    #[arg(long)]
    pub runc_binary: Option<String>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// User to run as: uid, name, uid:gid or name:group.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Host name inside the container.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit in bytes (suffixes k, m, g: binary units).
    #[arg(long, value_parser = parse_bytes)]
    pub memory_limit: Option<u64>,
    /// CPUs the container may use (CFS quota over a 100ms period).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (run defaults to 1024, as ctr).
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds (with --cpu-period).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// Apply containerd's default seccomp profile.
    #[arg(long)]
    pub seccomp: bool,
    /// A seccomp profile file (JSON); needs --seccomp.
    #[arg(long, requires = "seccomp")]
    pub seccomp_profile: Option<PathBuf>,
    /// Turn off the no-new-privileges flag.
    #[arg(long)]
    pub allow_new_privs: bool,
    /// Cgroup path instead of `/<namespace>/<id>`.
    #[arg(long)]
    pub cgroup: Option<String>,
    /// The image reference, or with --rootfs the root directory.
    #[arg(value_name = "IMAGE|ROOTFS")]
    pub reference: String,
    /// The container id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The command and its arguments (the image's by default).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// How a new task's IO is set up.
#[derive(Debug, Clone, Args)]
pub struct TaskIoFlags {
    /// Send all IO to /dev/null.
    #[arg(long)]
    pub null_io: bool,
    /// Log URI for stdout and stderr (binary:///path or file:///path).
    #[arg(long)]
    pub log_uri: Option<String>,
    /// Directory for the IO FIFOs.
    #[arg(long, default_value = crated_client::cio::DEFAULT_FIFO_DIR)]
    pub fifo_dir: PathBuf,
    /// Write the task's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the task, the container and its snapshot when it exits.
    #[arg(long, conflicts_with = "detach")]
    pub rm: bool,
    /// Return once the task started.
    #[arg(short, long)]
    pub detach: bool,
    /// Task IO.
    #[command(flatten)]
    pub io: TaskIoFlags,
    /// The container.
    #[command(flatten)]
    pub container: ContainerFlags,
}

/// `containers` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContainersCommand {
    /// Run a container the way `ctr run` does: `containers run [FLAGS]
    /// IMAGE|ROOTFS ID [COMMAND]`: create it, start its task, wait for it.
    Run(Box<RunArgs>),
    /// Create a container.
    Create(Box<ContainerFlags>),
    /// List containers.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        /// Filters, e.g. labels.app==web (any may match).
        filters: Vec<String>,
    },
    /// Print a container's record and spec as JSON.
    Info {
        /// Print only the spec.
        #[arg(long)]
        spec: bool,
        /// The container id.
        id: String,
    },
    /// Delete containers (a stopped task is deleted with them).
    #[command(visible_aliases = ["del", "delete", "remove"])]
    Rm {
        /// Keep the container's snapshot.
        #[arg(long)]
        keep_snapshot: bool,
        /// The container ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Set or clear labels of a container (key= clears).
    Label {
        /// The container id.
        id: String,
        /// Labels, as key=value; an empty value removes the label.
        labels: Vec<String>,
    },
}

/// `tasks` subcommands.
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Start a container's task.
    Start {
        /// Return once the task started.
        #[arg(short, long)]
        detach: bool,
        /// Task IO.
        #[command(flatten)]
        io: TaskIoFlags,
        /// The container id.
        id: String,
    },
    /// List tasks.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Attach to the IO of a running task.
    Attach {
        /// The container id.
        id: String,
    },
    /// Run another process in a running task.
    Exec {
        /// Working directory of the process.
        #[arg(long)]
        cwd: Option<String>,
        /// Allocate a terminal.
        #[arg(short, long)]
        tty: bool,
        /// Return once the process started.
        #[arg(short, long)]
        detach: bool,
        /// The id of the process within the task.
        #[arg(long, required = true)]
        exec_id: String,
        /// Directory for the IO FIFOs.
        #[arg(long, default_value = crated_client::cio::DEFAULT_FIFO_DIR)]
        fifo_dir: PathBuf,
        /// Log URI for stdout and stderr.
        #[arg(long, conflicts_with = "tty")]
        log_uri: Option<String>,
        /// User to run as: uid, name, uid:gid or name:group.
        #[arg(short, long)]
        user: Option<String>,
        /// Environment variables to add, as KEY=value.
        #[arg(short, long)]
        env: Vec<String>,
        /// The container id.
        id: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Send a signal to a task (default: the image's stop signal, else SIGTERM).
    Kill {
        /// The signal, by name (SIGKILL, KILL) or number.
        #[arg(short, long)]
        signal: Option<String>,
        /// Signal this process of the task.
        #[arg(long, conflicts_with = "all")]
        exec_id: Option<String>,
        /// Signal every process of the task (no -a: that is --address).
        #[arg(long)]
        all: bool,
        /// The container id.
        id: String,
    },
    /// Freeze a task.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused task.
    Resume {
        /// The container id.
        id: String,
    },
    /// List the processes of a task.
    Ps {
        /// The container id.
        id: String,
    },
    /// Print a task's cgroup metrics (--format json for all of them).
    #[command(visible_alias = "metric")]
    Metrics {
        /// The container id.
        id: String,
    },
    /// Delete stopped tasks (or an exited exec process).
    #[command(visible_aliases = ["del", "delete", "remove"])]
    Rm {
        /// Kill the task first.
        #[arg(short, long)]
        force: bool,
        /// Delete this exec process instead of the task.
        #[arg(long)]
        exec_id: Option<String>,
        /// The container ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Wait for a task (or one of its processes) to exit and print its
    /// exit status.
    Wait {
        /// Wait for this process of the task.
        #[arg(long)]
        exec_id: Option<String>,
        /// The container id.
        id: String,
    },
}

/// `images` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the references.
        #[arg(short, long)]
        quiet: bool,
        /// Filters, e.g. name==docker.io/library/busybox:latest (any may match).
        filters: Vec<String>,
    },
    /// Delete images.
    #[command(visible_aliases = ["del", "delete", "remove"])]
    Rm {
        /// Also remove what only the images held before returning.
        #[arg(long)]
        sync: bool,
        /// The references.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Give an image more names.
    Tag {
        /// Replace a target that already exists.
        #[arg(long)]
        force: bool,
        /// The existing reference.
        source: String,
        /// The new references.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Set or clear labels of an image (key= clears).
    Label {
        /// Replace all labels.
        #[arg(short, long)]
        replace_all: bool,
        /// The reference.
        reference: String,
        /// Labels, as key=value; an empty value removes the label.
        labels: Vec<String>,
    },
    /// Check that images' content is present and unpacked.
    Check {
        /// Print only the references of complete images.
        #[arg(short, long)]
        quiet: bool,
        /// Snapshotter to check unpacking in.
        #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = "overlayfs")]
        snapshotter: String,
        /// Filters (any may match).
        filters: Vec<String>,
    },
    /// Pull, push, import, export, mount, unmount, usage and prune.
    #[command(flatten)]
    Transfer(ImagesTransferCommand),
}

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List plugins.
    #[command(visible_alias = "list")]
    Ls(PluginsLsArgs),
}

/// `plugins ls` arguments.
#[derive(Debug, Args)]
pub struct PluginsLsArgs {
    /// Print only the plugin ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print details about each plugin.
    #[arg(short, long)]
    pub detailed: bool,
    /// Filters, e.g. type==io.containerd.snapshotter.v1 (any may match).
    pub filters: Vec<String>,
}

/// `namespaces` subcommands.
#[derive(Debug, Subcommand)]
pub enum NamespacesCommand {
    /// Create a namespace.
    #[command(visible_alias = "c")]
    Create {
        /// The namespace's name.
        name: String,
        /// Labels, as key=value (key alone means key=true).
        labels: Vec<String>,
    },
    /// List namespaces.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove namespaces; each must be empty.
    #[command(visible_alias = "remove")]
    Rm {
        /// The namespaces to remove.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Set or clear labels of a namespace (key= clears).
    Label {
        /// The namespace's name.
        name: String,
        /// Labels, as key=value; an empty value removes the label.
        labels: Vec<String>,
    },
}

/// `content` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// List blobs.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the digests.
        #[arg(short, long)]
        quiet: bool,
        /// Filters, e.g. labels.foo==bar (any may match).
        filters: Vec<String>,
    },
    /// Write a blob's bytes to stdout.
    Get {
        /// The blob's digest.
        digest: String,
    },
    /// Store a blob read from stdin.
    Ingest {
        /// The ingest reference; an interrupted ingest resumes by it.
        reference: String,
        /// The size the blob must have.
        #[arg(long)]
        expected_size: Option<i64>,
        /// The digest the blob must have.
        #[arg(long)]
        expected_digest: Option<String>,
    },
    /// Delete blobs.
    #[command(visible_aliases = ["del", "remove", "delete"])]
    Rm {
        /// The digests of the blobs to delete.
        #[arg(required = true)]
        digests: Vec<String>,
    },
    /// Set or clear labels of a blob (key= clears).
    Label {
        /// The blob's digest.
        digest: String,
        /// Labels, as key=value; an empty value removes the label.
        labels: Vec<String>,
    },
    /// List ingests in progress.
    Active {
        /// Filters, e.g. ref~=layer (any may match).
        filters: Vec<String>,
    },
    /// Fetch an image's content from a registry (a pull without unpacking).
    Fetch(FetchArgs),
}

/// `leases` subcommands.
#[derive(Debug, Subcommand)]
pub enum LeasesCommand {
    /// List leases.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        /// Filters, e.g. id==mylease (any may match).
        filters: Vec<String>,
    },
    /// Create a lease and print its id.
    Create {
        /// The lease id; generated when not given.
        #[arg(long)]
        id: Option<String>,
        /// Expire the lease after this long (0 never expires).
        #[arg(short = 'x', long, value_parser = parse_duration, default_value = "24h")]
        expires: Duration,
        /// Labels, as key=value.
        labels: Vec<String>,
    },
    /// Delete leases.
    #[command(visible_aliases = ["del", "remove", "delete"])]
    Rm {
        /// Also remove what the leases held before returning.
        #[arg(long)]
        sync: bool,
        /// The leases to delete.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// `events` arguments.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filters, e.g. topic~="/namespaces/" (any may match).
    pub filters: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cratectl").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn globals_go_before_or_after_the_command() {
        let cli = parse(&[
            "-a", "/x.sock", "content", "ls", "--format", "json", "-n", "foo",
        ]);
        let cli = cli.map_err(|e| e.to_string());
        let Ok(cli) = cli else {
            panic!("{cli:?}");
        };
        assert_eq!(cli.global.namespace, "foo");
        assert_eq!(cli.global.format, Format::Json);
        assert_eq!(cli.global.address, PathBuf::from("/x.sock"));
        assert!(matches!(
            cli.command,
            Command::Content(ContentCommand::Ls { .. })
        ));
    }

    #[test]
    fn durations_and_defaults() {
        let Ok(cli) = parse(&["--timeout", "1m30s", "leases", "create", "a=b"]) else {
            panic!("parse failed");
        };
        assert_eq!(cli.global.timeout, Duration::from_secs(90));
        assert_eq!(cli.global.connect_timeout, Duration::from_secs(10));
        match cli.command {
            Command::Leases(LeasesCommand::Create {
                id,
                expires,
                labels,
            }) => {
                assert_eq!(id, None);
                assert_eq!(expires, Duration::from_secs(24 * 3600));
                assert_eq!(labels, vec!["a=b".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["--timeout", "ten", "version"]).is_err());
    }

    #[test]
    fn run_takes_the_command_after_the_id() {
        let cli = parse(&[
            "containers",
            "run",
            "--rm",
            "-t",
            "-e",
            "A=1",
            "--env",
            "B=2",
            "--rootfs",
            "--memory-limit",
            "64m",
            "--cpus",
            "1.5",
            "-u",
            "app",
            "/srv/root",
            "web",
            "sh",
            "-c",
            "echo -n hi",
            "--rm",
        ]);
        let Ok(Cli {
            command: Command::Containers(ContainersCommand::Run(args)),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        assert!(args.rm && !args.detach);
        let c = &args.container;
        assert!(c.tty && c.rootfs);
        assert_eq!(c.env, ["A=1", "B=2"]);
        assert_eq!(c.memory_limit, Some(64 << 20));
        assert_eq!(c.cpus, Some(1.5));
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!((c.reference.as_str(), c.id.as_str()), ("/srv/root", "web"));
        // Everything after the id belongs to the container's command.
        assert_eq!(c.args, ["sh", "-c", "echo -n hi", "--rm"]);
        assert_eq!(c.snapshotter, "overlayfs");
        assert_eq!(c.runtime, "io.containerd.runc.v2");
        assert_eq!(
            args.io.fifo_dir,
            PathBuf::from(crated_client::cio::DEFAULT_FIFO_DIR)
        );
    }

    #[test]
    fn run_flags_that_conflict_or_are_missing() {
        let ctr_run = |args: &[&str]| {
            let mut all = vec!["c", "run"];
            all.extend_from_slice(args);
            parse(&all).is_err()
        };
        assert!(ctr_run(&["--rm", "-d", "img", "id"]));
        assert!(ctr_run(&["img"]));
        assert!(ctr_run(&["--seccomp-profile", "/p.json", "img", "id"]));
        assert!(ctr_run(&["--memory-limit", "lots", "img", "id"]));
        assert!(
            parse(&["tasks", "exec", "web", "sh"]).is_err(),
            "--exec-id is required"
        );
        assert!(parse(&["tasks", "kill", "--all", "--exec-id", "e1", "web"]).is_err());
    }

    #[test]
    fn task_and_container_commands_like_ctr() {
        assert!(parse(&["t", "ls", "-q"]).is_ok());
        assert!(parse(&["task", "metric", "web"]).is_ok());
        assert!(parse(&["tasks", "del", "-f", "a", "b"]).is_ok());
        assert!(parse(&["c", "rm", "--keep-snapshot", "a"]).is_ok());
        assert!(parse(&["container", "info", "--spec", "a"]).is_ok());
        assert!(parse(&["i", "ls", "-q"]).is_ok());
        let Ok(Cli {
            command:
                Command::Tasks(TasksCommand::Exec {
                    exec_id, args, tty, ..
                }),
            ..
        }) = parse(&["tasks", "exec", "-t", "--exec-id", "e1", "web", "ls", "-l"])
        else {
            panic!("exec");
        };
        assert_eq!(exec_id, "e1");
        assert!(tty);
        assert_eq!(args, ["ls", "-l"]);
        let Ok(Cli {
            command: Command::Tasks(TasksCommand::Kill { signal, all, .. }),
            ..
        }) = parse(&["tasks", "kill", "-s", "KILL", "--all", "web"])
        else {
            panic!("kill");
        };
        assert_eq!(signal.as_deref(), Some("KILL"));
        assert!(all);
    }

    #[test]
    fn docker_run_takes_the_command_after_the_image() {
        let cli = parse(&[
            "run",
            "--rm",
            "-it",
            "-e",
            "A=1",
            "-m",
            "64m",
            "--name",
            "web",
            "-v",
            "/srv:/data:ro",
            "busybox",
            "sh",
            "-c",
            "echo hi",
            "--rm",
        ]);
        let Ok(Cli {
            command: Command::Docker(DockerCommand::Run(args)),
            ..
        }) = cli
        else {
            panic!("{cli:?}");
        };
        assert!(args.rm && args.interactive && args.tty && !args.detach);
        assert_eq!(args.image, "busybox");
        assert_eq!(args.args, ["sh", "-c", "echo hi", "--rm"]);
        assert_eq!(args.memory, Some(64 << 20));
        assert_eq!(args.name.as_deref(), Some("web"));
        assert_eq!(args.volume, ["/srv:/data:ro"]);
        assert_eq!(args.pull, PullPolicy::Missing);
        assert_eq!(args.ctr_only.given(), None);
        let Ok(Cli {
            command: Command::Docker(DockerCommand::Run(args)),
            ..
        }) = parse(&["run", "--rootfs", "/srv/root", "id", "true"])
        else {
            panic!("--rootfs parses, to be refused with a message");
        };
        assert_eq!(args.ctr_only.given(), Some("--rootfs"));
        assert!(parse(&["run", "--pull", "sometimes", "busybox"]).is_err());
        assert!(parse(&["run", "-d", "--rm", "busybox"]).is_err());
    }

    #[test]
    fn docker_verbs_and_images_without_a_subcommand() {
        assert!(parse(&["ps", "-a", "-q", "--filter", "status=exited"]).is_ok());
        assert!(parse(&["stop", "-t", "3", "a", "b"]).is_ok());
        assert!(parse(&["kill", "-s", "TERM", "a"]).is_ok());
        assert!(parse(&["rm", "-f", "a"]).is_ok());
        assert!(
            parse(&[
                "exec", "-it", "-e", "A=1", "-w", "/", "-u", "app", "a", "sh"
            ])
            .is_ok()
        );
        assert!(parse(&["exec", "a"]).is_err(), "a command is required");
        assert!(parse(&["logs", "-f", "--tail", "5", "--since", "10m", "-t", "a"]).is_ok());
        assert!(parse(&["rmi", "busybox"]).is_ok());
        assert!(parse(&["tag", "busybox", "mine:1"]).is_ok());
        assert!(parse(&["pull", "busybox"]).is_ok());
        let Ok(Cli {
            command:
                Command::Images(ImagesArgs {
                    quiet: true,
                    command: None,
                }),
            ..
        }) = parse(&["images", "-q"])
        else {
            panic!("images -q");
        };
        assert!(matches!(
            parse(&["images", "ls"]),
            Ok(Cli {
                command: Command::Images(ImagesArgs {
                    command: Some(ImagesCommand::Ls { .. }),
                    ..
                }),
                ..
            })
        ));
    }

    #[test]
    fn aliases_like_ctr() {
        assert!(parse(&["ns", "ls", "-q"]).is_ok());
        assert!(parse(&["plugin", "list", "-d"]).is_ok());
        assert!(parse(&["content", "del", "sha256:x"]).is_ok());
        assert!(parse(&["leases", "rm"]).is_err());
    }
}
