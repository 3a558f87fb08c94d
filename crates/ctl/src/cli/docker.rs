//! Command line of the docker/nerdctl-shaped verbs: `run`, `create`, `ps`,
//! `start`, `stop`, `restart`, `kill`, `rm`, `exec`, `logs`, `inspect`,
//! `wait`, `pause`, `unpause`, `top`, and the image verbs `images`, `pull`,
//! `rmi`, `tag`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::images_transfer::DEFAULT_SNAPSHOTTER;
use crate::args::parse_bytes;

/// The docker-shaped verbs (flattened into the top level).
#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Run a command in a new container: `run [FLAGS] IMAGE [COMMAND [ARG...]]`
    /// (docker's shape; ctr's `run IMAGE ID COMMAND` is `containers run`).
    #[command(after_help = RUN_AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Create a container without starting it (the flags of `run`).
    Create(Box<RunArgs>),
    /// List containers (running ones unless -a).
    Ps(PsArgs),
    /// Start stopped or created containers, detached, their output logged.
    Start(IdsArgs),
    /// Stop running containers: the stop signal, then SIGKILL after -t
    /// seconds.
    Stop(StopArgs),
    /// Stop and start containers again.
    Restart(StopArgs),
    /// Send a signal to running containers (SIGKILL by default).
    Kill(KillArgs),
    /// Remove containers (-f kills running ones first).
    Rm(RmArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Print the logged output of a container started detached.
    Logs(LogsArgs),
    /// Print containers' records, specs and states as JSON.
    Inspect(IdsArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(IdsArgs),
    /// Freeze the processes of containers.
    Pause(IdsArgs),
    /// Thaw the processes of paused containers.
    Unpause(IdsArgs),
    /// Show the processes of a running container.
    Top(TopArgs),
    /// Pull an image (short names as docker: busybox is
    /// docker.io/library/busybox:latest).
    Pull(Box<super::PullArgs>),
    /// Remove images (a missing one is an error).
    Rmi(RmiArgs),
    /// Give an image another name: `tag SOURCE TARGET`.
    Tag(TagArgs),
}

const RUN_AFTER_HELP: &str = "\
`cratectl run` takes docker's shape: the first argument is the image, the rest is the \
command. ctr's shape (`run [--rootfs] IMAGE ID COMMAND`, with --fifo-dir, --null-io, \
--log-uri, --net-host, --memory-limit, --cwd) is `cratectl containers run`.";

/// When `run` and `create` pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    /// When the image is not in the store.
    Missing,
    /// Every time.
    Always,
    /// Never: a missing image is an error.
    Never,
}

/// `run` and `create` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The container's name (its id); a generated one by default.
    #[arg(long)]
    pub name: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    /// Run in the background and print the container's name; the output
    /// goes to its log (see `logs`).
    #[arg(short, long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long, conflicts_with = "detach")]
    pub rm: bool,
    /// Keep stdin open and pass this process's stdin to the container.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Environment variables, as KEY=value (KEY alone takes this process's
    /// value).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Files of environment variables, one KEY=value a line.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User to run as: uid, name, uid:gid or name:group.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Replace the image's entrypoint (the image's command is dropped too).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container labels, as key=value.
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Host name inside the container.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Memory limit (suffixes k, m, g: binary units).
    #[arg(short, long, value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// CPUs the container may use, e.g. 0.5.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Most processes the container may have (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// All capabilities and devices, no confinement.
    #[arg(long)]
    pub privileged: bool,
    /// Capabilities to add, e.g. NET_ADMIN (or ALL).
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Capabilities to drop, e.g. CHOWN (or ALL).
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Bind mounts, as HOST:CONTAINER, HOST:CONTAINER:ro or HOST:CONTAINER:rw (HOST an absolute path).
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// tmpfs mounts, as CONTAINER or CONTAINER:OPTIONS, e.g. /run:size=64m.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Runtime name.
    #[arg(long, default_value = crated_client::runtime_options::DEFAULT_RUNTIME)]
    pub runtime: String,
    /// Snapshotter holding the image.
    #[arg(long, env = "CONTAINERD_SNAPSHOTTER", default_value = DEFAULT_SNAPSHOTTER)]
    pub snapshotter: String,
    /// The platform of the image to use and pull, e.g. linux/arm64.
    #[arg(long)]
    pub platform: Option<String>,
    /// Reach the image's registry over plain HTTP.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Directory of registry configurations (`<dir>/<host>/hosts.toml`).
    #[arg(long)]
    pub hosts_dir: Option<PathBuf>,
    /// ctr's shape only; refused with what changed.
    #[command(flatten)]
    pub ctr_only: CtrOnlyFlags,
    /// The image, e.g. busybox or docker.io/library/busybox:latest.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments (the image's by default).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// Flags of ctr's `run` that the docker-shaped `run` does not take: given
/// one, `run` says where ctr's shape went instead of reading the arguments
/// another way.
#[derive(Debug, Args)]
pub struct CtrOnlyFlags {
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub rootfs: bool,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub null_io: bool,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub net_host: bool,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub fifo_dir: Option<String>,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub log_uri: Option<String>,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub memory_limit: Option<String>,
    /// ctr's shape: see `containers run`.
    #[arg(long, hide = true)]
    pub cwd: Option<String>,
}

impl CtrOnlyFlags {
    /// The first ctr-only flag given, if any.
    pub fn given(&self) -> Option<&'static str> {
        [
            (self.rootfs, "--rootfs"),
            (self.null_io, "--null-io"),
            (self.net_host, "--net-host"),
            (self.fifo_dir.is_some(), "--fifo-dir"),
            (self.log_uri.is_some(), "--log-uri"),
            (self.memory_limit.is_some(), "--memory-limit"),
            (self.cwd.is_some(), "--cwd"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

/// Container names or ids.
#[derive(Debug, Args)]
pub struct IdsArgs {
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

/// `ps` arguments.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// All containers, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filters: id=, name=, label=KEY or label=KEY=VALUE, status=created, running, paused or exited,
    /// ancestor=IMAGE (repeatable; all must match).
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
}

/// `stop` and `restart` arguments.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

/// `kill` arguments.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal, by name (SIGTERM, TERM) or number.
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

/// `rm` arguments.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill a running container first.
    #[arg(short, long)]
    pub force: bool,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub ids: Vec<String>,
}

/// `exec` arguments.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Pass this process's stdin to the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Start the command and return.
    #[arg(short, long)]
    pub detach: bool,
    /// Environment variables to add, as KEY=value.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory of the command.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User to run as: uid, name, uid:gid or name:group.
    #[arg(short, long)]
    pub user: Option<String>,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub id: String,
    /// The command and its arguments.
    #[arg(
        required = true,
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// `logs` arguments.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line).
    #[arg(long, default_value = "all")]
    pub tail: String,
    /// Only output since this time: RFC 3339 (2026-01-02T15:04:05Z) or a
    /// duration before now (10m, 1h30m).
    #[arg(long)]
    pub since: Option<String>,
    /// Prefix each line with its time (RFC 3339, nanoseconds).
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub id: String,
}

/// `top` arguments.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub id: String,
}

/// `rmi` arguments.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Also remove what only the images held before returning.
    #[arg(long)]
    pub sync: bool,
    /// The images.
    #[arg(required = true, value_name = "IMAGE")]
    pub references: Vec<String>,
}

/// `tag` arguments.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The existing image.
    pub source: String,
    /// The new name.
    pub target: String,
}
