//! Applying an uncompressed layer tar stream onto a directory, with OCI
//! whiteouts handled for native-style snapshots or converted to overlayfs'
//! form, like containerd's `archive.Apply`.

mod create;
mod header;
mod whiteout;

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crated_core::{Error, ErrorKind, Result};
use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};

use crate::error::{IoContext, io_error, show};
use crate::fsops::timestamps;
use crate::names;
use crate::readahead;
use crate::resolve::{DirInfo, Missing, Resolver};

/// How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Whiteouts {
    /// The root holds the merged tree (native and btrfs snapshotters): a
    /// whiteout removes `<name>`; an opaque marker removes everything in
    /// its directory that this layer did not create.
    #[default]
    Oci,
    /// The root is an overlayfs upper directory: a whiteout becomes a 0:0
    /// character device `<name>`; an opaque marker sets
    /// `trusted.overlay.opaque=y` on its directory.
    Overlay,
}

/// Options of [`apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// How whiteouts are applied.
    pub whiteouts: Whiteouts,
    /// Refuse the stream once it exceeds this many uncompressed bytes
    /// (`ResourceExhausted`), bounding decompression bombs. `None`: no
    /// bound.
    pub max_size: Option<u64>,
    /// Lower directories, nearest first. A parent directory that the layer
    /// does not list and that is missing in the root is created with the
    /// owner, mode, times and xattrs of the same directory in the first of
    /// these that has it (containerd's `WithParents`, used for overlay
    /// upper directories); otherwise it gets 0755 and root's ownership.
    pub parents: Vec<PathBuf>,
    /// Refuse, instead of resolving inside the root as containerd does,
    /// entries with absolute names or hardlink targets and paths that go
    /// through an absolute symlink or a symlink climbing above the root.
    /// Names whose `..` climb above the root are refused either way.
    pub strict_paths: bool,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// `sha256:<hex>` of the whole uncompressed stream: the layer's diff id.
    pub diff_id: String,
    /// Bytes of the uncompressed stream, tar headers and padding included.
    pub size: u64,
    /// Sum of the entries' payload sizes (containerd's `Apply` result).
    pub content_bytes: u64,
    /// Tar entries read (PAX and GNU extension headers not counted).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Directories created or merged.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hardlinks created.
    pub hardlinks: u64,
    /// Character and block devices and fifos created.
    pub devices: u64,
    /// Whiteout and opaque markers applied.
    pub whiteouts: u64,
    /// Entries skipped (devices inside a user namespace).
    pub skipped: u64,
}

/// Applies the uncompressed tar stream `reader` onto the directory `root`
/// and returns what it did, the stream's digest included. The stream is
/// read to its end on success, so the digest covers trailing padding.
///
/// Entries are created like containerd does: an existing entry is replaced
/// unless both are directories (then the metadata is merged); owners,
/// modes (setuid, setgid, sticky included), xattrs (`trusted.*` ignored)
/// and times are set; directory times are set last. No path ever resolves
/// outside `root`: see [`ApplyOptions::strict_paths`]. Nothing is synced to
/// disk; the caller syncs the filesystem once if it needs durability.
pub fn apply<R: Read + Send>(reader: R, root: &Path, options: ApplyOptions) -> Result<ApplyStats> {
    let open_dir = |p: &Path| {
        rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening {}", p.display()))
    };
    let root_fd = open_dir(root)?;
    let parents = options
        .parents
        .iter()
        .map(|p| open_dir(p))
        .collect::<Result<Vec<OwnedFd>>>()?;
    let mut applier = Applier {
        resolver: Resolver::new(root_fd, options.strict_paths),
        st: State {
            whiteouts: options.whiteouts,
            strict: options.strict_paths,
            parents,
            unpacked: HashSet::new(),
            dirs: Vec::new(),
            buf: vec![0u8; COPY_BUFFER],
            stats: ApplyStats::default(),
            creds: Creds::current(),
        },
    };
    std::thread::scope(|scope| {
        let (mut stream, producer) = readahead::spawn(scope, reader, options.max_size)?;
        let applied = applier.run(&mut stream).and_then(|()| {
            std::io::copy(&mut stream, &mut std::io::sink())
                .map(drop)
                .ctx(|| "reading the end of the layer stream")
        });
        drop(stream);
        let produced = producer
            .join()
            .map_err(|_| Error::internal("layer reader thread panicked"))?;
        match (applied, produced) {
            (_, Err(e)) => Err(e),
            (Err(e), _) => Err(e),
            (Ok(()), Ok(Some(summary))) => {
                let mut stats = std::mem::take(&mut applier.st.stats);
                stats.diff_id = summary.digest;
                stats.size = summary.size;
                Ok(stats)
            }
            (Ok(()), Ok(None)) => Err(Error::internal("layer reader stopped early")),
        }
    })
}

const COPY_BUFFER: usize = 1024 * 1024;

struct Applier {
    resolver: Resolver,
    st: State,
}

/// Everything but the resolver, so both can be borrowed at once.
pub(crate) struct State {
    whiteouts: Whiteouts,
    strict: bool,
    parents: Vec<OwnedFd>,
    /// Real paths created by this layer (OCI mode), kept by opaque markers.
    unpacked: HashSet<Vec<u8>>,
    /// Directories whose times are set at the end.
    dirs: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    stats: ApplyStats,
    creds: Creds,
}

/// Who new files belong to and which mode bits the umask clears, to skip
/// `fchown`/`fchmod` calls that would change nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Creds {
    uid: u32,
    gid: u32,
    /// `None` when unknown: always chmod.
    umask: Option<u32>,
}

impl Creds {
    fn current() -> Creds {
        let umask = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            });
        Creds {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            umask,
        }
    }

    /// Whether a file created with `mode` in `dir` already has it.
    pub(crate) fn mode_is_exact(&self, mode: u32, dir: Option<DirInfo>) -> bool {
        match (self.umask, dir) {
            (Some(umask), Some(dir)) => mode & 0o7000 == 0 && mode & umask == 0 && !dir.default_acl,
            _ => false,
        }
    }

    /// Whether a file created in `dir` is already owned by `uid:gid`.
    pub(crate) fn owner_is_exact(&self, uid: u32, gid: u32, dir: Option<DirInfo>) -> bool {
        let Some(dir) = dir else { return false };
        let new_gid = if dir.setgid { dir.gid } else { self.gid };
        uid == self.uid && gid == new_gid
    }
}

impl Applier {
    fn run(&mut self, stream: &mut impl Read) -> Result<()> {
        let mut archive = tar::Archive::new(stream);
        let entries = archive.entries().map_err(tar_error)?;
        for entry in entries {
            let mut entry = entry.map_err(tar_error)?;
            self.st.stats.entries += 1;
            let Some(meta) = header::parse(&mut entry)? else {
                continue;
            };
            self.st.stats.content_bytes += meta.size;
            self.entry(&meta, &mut entry)?;
        }
        self.finish_dirs()
    }

    fn entry(&mut self, meta: &header::EntryMeta, data: &mut impl Read) -> Result<()> {
        let comps = names::clean(&meta.name, self.st.strict, &meta.name)?;
        let Some((base, parent)) = comps.split_last() else {
            tracing::debug!(entry = %show(&meta.name), "tar entry resolves to the root: ignored");
            return Ok(());
        };
        if matches!(meta.kind, header::Kind::Char | header::Kind::Block) && in_user_namespace() {
            tracing::warn!(entry = %show(&meta.name), "device node ignored inside a user namespace");
            self.st.stats.skipped += 1;
            return Ok(());
        }
        let missing = Missing::Create(&self.st.parents);
        self.resolver.resolve(parent, missing, &meta.name)?;
        if let Some(name) = base.strip_prefix(b".wh.") {
            return self.st.whiteout(&self.resolver, name, meta);
        }
        let dir_info = match meta.kind {
            header::Kind::Regular => self.resolver.dir_info().ok(),
            _ => None,
        };
        self.st.create(&self.resolver, dir_info, base, meta, data)?;
        if self.st.whiteouts == Whiteouts::Oci {
            let path = names::child(&self.resolver.dir_path(), base);
            self.st.unpacked.insert(path);
        }
        Ok(())
    }

    /// Sets directory times after everything inside them was written.
    fn finish_dirs(&mut self) -> Result<()> {
        for (path, times) in std::mem::take(&mut self.st.dirs) {
            let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
            let Some((base, parent)) = comps.split_last() else {
                continue;
            };
            // A directory replaced later in the layer (by a file or a
            // symlink) keeps the times of its replacement.
            match self.resolver.resolve(parent, Missing::FailNoFollow, &path) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound | ErrorKind::FailedPrecondition
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
            let dir = self.resolver.dir();
            match rustix::fs::statat(dir, *base, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {}
                _ => continue,
            }
            match rustix::fs::utimensat(dir, *base, &times, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(io_error(format!("setting times of {:?}", show(&path)), e)),
            }
        }
        Ok(())
    }
}

/// Tar parse failures: the stream is corrupt or cut short.
fn tar_error(err: std::io::Error) -> Error {
    Error::with_source(ErrorKind::DataLoss, "reading layer tar stream", err)
}

/// Whether this process runs in a user namespace (where device nodes
/// cannot be created; containerd skips them there).
fn in_user_namespace() -> bool {
    static USERNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USERNS.get_or_init(|| match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    })
}

impl State {
    fn times(meta: &header::EntryMeta) -> Timestamps {
        timestamps(meta.atime, meta.mtime)
    }
}
