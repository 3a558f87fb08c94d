//! Command line of `snapshots`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::images_transfer::DEFAULT_SNAPSHOTTER;

/// The layer media type `snapshots diff` writes by default.
pub const DEFAULT_DIFF_MEDIA_TYPE: &str = crated_core::media::OCI_LAYER_GZIP;

/// `snapshots` arguments.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Snapshotter to work with.
    #[arg(
        long,
        global = true,
        env = "CONTAINERD_SNAPSHOTTER",
        default_value = DEFAULT_SNAPSHOTTER
    )]
    pub snapshotter: String,
    /// What to do.
    #[command(subcommand)]
    pub command: SnapshotsCommand,
}

/// `snapshots` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// Create a writable snapshot on a committed one (or on nothing).
    Prepare {
        /// Print the shell commands that mount it on this directory.
        #[arg(short, long)]
        target: Option<PathBuf>,
        /// Print its mounts as JSON.
        #[arg(long)]
        mounts: bool,
        /// The new snapshot's key.
        key: String,
        /// The committed parent.
        parent: Option<String>,
    },
    /// Create a read-only view of a committed snapshot.
    View {
        /// Print the shell commands that mount it on this directory.
        #[arg(short, long)]
        target: Option<PathBuf>,
        /// Print its mounts as JSON.
        #[arg(long)]
        mounts: bool,
        /// The new view's key.
        key: String,
        /// The committed snapshot to view.
        parent: Option<String>,
    },
    /// Commit a writable snapshot under a name.
    Commit {
        /// The committed snapshot's name.
        name: String,
        /// The writable snapshot's key.
        active: String,
    },
    /// List snapshots.
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the keys.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print a snapshot's information as JSON.
    Info {
        /// The key.
        key: String,
    },
    /// Print the shell commands that mount a snapshot on a directory.
    #[command(visible_aliases = ["m", "mount"])]
    Mounts {
        /// The directory.
        target: PathBuf,
        /// The key.
        key: String,
    },
    /// Remove snapshots.
    #[command(visible_aliases = ["del", "delete", "remove"])]
    Rm {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Set or clear labels of a snapshot (key= clears) and print them.
    Label {
        /// The key.
        key: String,
        /// Labels, as key=value; an empty value removes the label.
        labels: Vec<String>,
    },
    /// Print snapshots as a tree of parents and children.
    Tree,
    /// Show the disk usage of snapshots (all when none are named).
    Usage {
        /// Sizes in bytes.
        #[arg(short)]
        b: bool,
        /// The keys.
        keys: Vec<String>,
    },
    /// Write the changes between two snapshots (or of one over its parent)
    /// as a layer into the content store, and the layer to stdout.
    Diff {
        /// The layer's media type.
        #[arg(long, default_value = DEFAULT_DIFF_MEDIA_TYPE)]
        media_type: String,
        /// The content ingest reference.
        #[arg(long = "ref")]
        reference: Option<String>,
        /// Keep the layer in the content store (as a garbage collection
        /// root).
        #[arg(long)]
        keep: bool,
        /// Labels of the layer blob, as key=value.
        #[arg(long)]
        label: Vec<String>,
        /// Print the layer's descriptor instead of its bytes.
        #[arg(long)]
        descriptor: bool,
        /// Alone: the snapshot whose changes over its parent to write. With
        /// a second snapshot: the lower side.
        a: String,
        /// The upper side: its changes over the first snapshot are written.
        b: Option<String>,
    },
    /// Unpack an image into the snapshotter.
    Unpack {
        /// The platform; the host's by default.
        #[arg(long)]
        platform: Option<String>,
        /// The image name, or the digest of its target.
        image: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<SnapshotsArgs, String> {
        match Cli::try_parse_from(std::iter::once("cratectl").chain(args.iter().copied())) {
            Ok(Cli {
                command: Command::Snapshots(args),
                ..
            }) => Ok(args),
            Ok(other) => Err(format!("{other:?}")),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn snapshotter_goes_before_or_after_the_subcommand() {
        let before = parse(&["snapshots", "--snapshotter", "native", "ls"]).unwrap();
        assert_eq!(before.snapshotter, "native");
        let after = parse(&["snapshot", "ls", "--snapshotter", "btrfs", "-q"]).unwrap();
        assert_eq!(after.snapshotter, "btrfs");
        assert!(matches!(
            after.command,
            SnapshotsCommand::Ls { quiet: true }
        ));
    }

    #[test]
    fn subcommands_like_ctr() {
        match parse(&["snapshots", "prepare", "-t", "/mnt", "k", "p"])
            .unwrap()
            .command
        {
            SnapshotsCommand::Prepare {
                target,
                mounts,
                key,
                parent,
            } => {
                assert_eq!(target, Some(PathBuf::from("/mnt")));
                assert!(!mounts);
                assert_eq!((key.as_str(), parent.as_deref()), ("k", Some("p")));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["snapshots", "view", "--mounts", "v", "p"])
                .unwrap()
                .command,
            SnapshotsCommand::View { mounts: true, .. }
        ));
        assert!(matches!(
            parse(&["snapshots", "m", "/mnt", "k"]).unwrap().command,
            SnapshotsCommand::Mounts { .. }
        ));
        assert!(parse(&["snapshots", "rm"]).is_err());
        assert!(matches!(
            parse(&["snapshots", "del", "a", "b"]).unwrap().command,
            SnapshotsCommand::Rm { keys } if keys.len() == 2
        ));
        match parse(&["snapshots", "diff", "--keep", "--ref", "r", "a"])
            .unwrap()
            .command
        {
            SnapshotsCommand::Diff {
                media_type,
                reference,
                keep,
                a,
                b,
                ..
            } => {
                assert_eq!(media_type, DEFAULT_DIFF_MEDIA_TYPE);
                assert_eq!(reference.as_deref(), Some("r"));
                assert!(keep);
                assert_eq!((a.as_str(), b), ("a", None));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["snapshots", "usage", "-b"]).unwrap().command,
            SnapshotsCommand::Usage { b: true, .. }
        ));
        assert!(matches!(
            parse(&[
                "snapshots",
                "unpack",
                "--platform",
                "linux/amd64",
                "busybox"
            ])
            .unwrap()
            .command,
            SnapshotsCommand::Unpack { .. }
        ));
        assert!(matches!(
            parse(&["snapshots", "tree"]).unwrap().command,
            SnapshotsCommand::Tree
        ));
    }
}
