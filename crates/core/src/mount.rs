//! Mounts as snapshotters describe them: what to mount, never mounted here.

/// One mount: `mount -t <mount_type> -o <options> <source> <target>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// Filesystem type, e.g. `overlay` or `bind`.
    pub mount_type: String,
    /// The source: a device, a directory or `overlay`.
    pub source: String,
    /// A path relative to the mount root where this mount goes; empty for
    /// the root itself.
    pub target: String,
    /// Mount options, e.g. `lowerdir=…`, `rbind`, `ro`.
    pub options: Vec<String>,
}

impl Mount {
    /// Whether the options ask for a read-only mount.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}
