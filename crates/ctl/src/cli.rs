//! The command line, as clap types.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::args::parse_duration;

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
    /// Address of the daemon's gRPC socket.
    #[arg(
        short,
        long,
        global = true,
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
            "-n", "foo", "content", "ls", "--format", "json", "-a", "/x.sock",
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
    fn aliases_like_ctr() {
        assert!(parse(&["ns", "ls", "-q"]).is_ok());
        assert!(parse(&["plugin", "list", "-d"]).is_ok());
        assert!(parse(&["content", "del", "sha256:x"]).is_ok());
        assert!(parse(&["leases", "rm"]).is_err());
    }
}
