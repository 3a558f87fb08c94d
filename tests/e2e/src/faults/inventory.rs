//! What a daemon has on the host, read behind its back, and the checks
//! that compare it with the records the daemon serves: every blob an image
//! references is there and hashes right; every snapshot directory, blob,
//! ingest, mount, shim, runtime container, cgroup and bundle has a record,
//! and every record has what it stands for.
//!
//! Call the checks after a collection ran (see [`collect`]): before it,
//! unreferenced objects are legitimately still there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::image::host_arch;
use crate::workload::{ctr_tasks, mounts_under, pid_alive};
use crate::{Daemon, sha256_digest};

use super::Finding;

/// The content store's directory under the daemon's root.
const CONTENT: &str = "io.containerd.content.v1.content";
/// The overlayfs snapshotter's directory under the daemon's root.
const OVERLAYFS: &str = "io.containerd.snapshotter.v1.overlayfs";
/// The runtime v2 bundles' directory under the daemon's state.
const TASKS: &str = "io.containerd.runtime.v2.task";
/// The OCI runtime's state root under the daemon's state (per namespace).
const RUNC: &str = "runc";
/// How long leftovers may take to be cleaned up after a restart or a
/// collection before they count as leaks (shims exit asynchronously).
pub const SETTLE: Duration = Duration::from_secs(20);

/// The names in `dir` (none if it does not exist).
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|read| {
            read.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a synchronous collection: creates a lease in `ns` and removes it
/// with `--sync`, which returns once the collection it triggers is done.
#[track_caller]
pub fn collect(daemon: &Daemon, ns: &str) {
    let id = format!("faults-gc-{}", std::process::id());
    daemon
        .ctr(&["-n", ns, "leases", "create", "--id", &id])
        .ok();
    daemon.ctr(&["-n", ns, "leases", "rm", "--sync", &id]).ok();
}

/// Every blob file of the content store: digest → path.
pub fn blob_files(daemon: &Daemon) -> BTreeMap<String, PathBuf> {
    let dir = daemon.root().join(CONTENT).join("blobs").join("sha256");
    names(&dir)
        .into_iter()
        .map(|hex| {
            let path = dir.join(&hex);
            (format!("sha256:{hex}"), path)
        })
        .collect()
}

/// The digests `ctr content ls -q` lists in `ns`.
#[track_caller]
pub fn content_records(daemon: &Daemon, ns: &str) -> BTreeSet<String> {
    daemon
        .ctr(&["-n", ns, "content", "ls", "-q"])
        .ok()
        .lines()
        .into_iter()
        .collect()
}

/// The snapshot keys `ctr snapshots ls` lists in `ns`.
#[track_caller]
pub fn snapshot_records(daemon: &Daemon, ns: &str) -> BTreeSet<String> {
    daemon
        .ctr(&["-n", ns, "snapshots", "ls"])
        .ok()
        .lines()
        .into_iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The overlayfs snapshotter's snapshot directories.
pub fn snapshot_dirs(daemon: &Daemon) -> BTreeSet<String> {
    names(&daemon.root().join(OVERLAYFS).join("snapshots"))
}

/// The content store's ingest directories.
pub fn ingest_dirs(daemon: &Daemon) -> BTreeSet<String> {
    names(&daemon.root().join(CONTENT).join("ingest"))
}

/// The bundle directories in `ns`.
pub fn bundles(daemon: &Daemon, ns: &str) -> BTreeSet<String> {
    names(&daemon.state().join(TASKS).join(ns))
}

/// The OCI runtime's containers in `ns` (its state directories).
pub fn runtime_containers(daemon: &Daemon, ns: &str) -> BTreeSet<String> {
    names(&daemon.state().join(RUNC).join(ns))
}

/// The live shims of this daemon in `ns`, by task id: processes started
/// with `-namespace <ns> -id <id> -address <socket>` (not `start` or
/// `delete` invocations).
pub fn shims(daemon: &Daemon, ns: &str) -> BTreeMap<String, u32> {
    let socket = daemon.socket().display().to_string();
    let mut found = BTreeMap::new();
    for pid in names(Path::new("/proc"))
        .into_iter()
        .filter_map(|n| n.parse::<u32>().ok())
    {
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let flag = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
        if flag("-address").as_deref() == Some(socket.as_str())
            && flag("-namespace").as_deref() == Some(ns)
            && !args.iter().any(|a| a == "start" || a == "delete")
            && pid_alive(pid)
            && let Some(id) = flag("-id")
        {
            found.insert(id, pid);
        }
    }
    found
}

/// The container ids with a cgroup directory at `/<ns>/<id>` (ctr's
/// default cgroups path), in any v1 controller or the unified hierarchy.
pub fn cgroups(ns: &str) -> BTreeSet<String> {
    let base = Path::new("/sys/fs/cgroup");
    let subdirs = |dir: PathBuf| -> BTreeSet<String> {
        names(&dir)
            .into_iter()
            .filter(|n| dir.join(n).is_dir())
            .collect()
    };
    let mut found = subdirs(base.join(ns));
    for controller in names(base) {
        found.extend(subdirs(base.join(controller).join(ns)));
    }
    found
}

/// The mounts that belong to this daemon: mount points under its
/// directory, and mounts elsewhere whose options name its root (an
/// overlay of its snapshots).
pub fn daemon_mounts(daemon: &Daemon) -> Vec<String> {
    let mut found = mounts_under(&[daemon.dir().to_path_buf(), daemon.root()]);
    let root = daemon.root().display().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let Some(point) = line.split(' ').nth(4) else {
            continue;
        };
        if line.contains(&root) && !found.iter().any(|m| m == point) {
            found.push(point.to_string());
        }
    }
    found
}

/// Compares two sets named `what`: an element only in `have` is a leak
/// (nothing records it), one only in `want` is a loss (its record stands
/// for nothing).
fn compare(
    what: &str,
    have: &BTreeSet<String>,
    want: &BTreeSet<String>,
    loss_too: bool,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = have
        .difference(want)
        .map(|x| Finding::Leak(format!("{what} {x} has no record")))
        .collect();
    if loss_too {
        out.extend(
            want.difference(have)
                .map(|x| Finding::Loss(format!("{what} of {x} is missing"))),
        );
    }
    out
}

/// The task side in `ns`: every bundle, shim, runtime container, cgroup
/// and rootfs mount belongs to a listed task, and every listed task has
/// its bundle, shim and runtime container (and, if running, its rootfs
/// mount).
#[track_caller]
pub fn check_tasks(daemon: &Daemon, ns: &str) -> Vec<Finding> {
    let listed = ctr_tasks(daemon, ns);
    let tasks: BTreeSet<String> = listed.iter().map(|(id, _, _)| id.clone()).collect();
    let running: BTreeSet<String> = listed
        .iter()
        .filter(|(_, _, s)| s == "RUNNING")
        .map(|(id, _, _)| id.clone())
        .collect();
    let mut out = compare("bundle", &bundles(daemon, ns), &tasks, true);
    let shim_ids: BTreeSet<String> = shims(daemon, ns).into_keys().collect();
    out.extend(compare("shim", &shim_ids, &tasks, true));
    out.extend(compare(
        "runtime container",
        &runtime_containers(daemon, ns),
        &tasks,
        true,
    ));
    out.extend(compare("cgroup", &cgroups(ns), &tasks, false));
    let bundle_root = daemon.state().join(TASKS).join(ns);
    let mut mounted = BTreeSet::new();
    for mount in daemon_mounts(daemon) {
        let path = Path::new(&mount);
        let owner = path
            .strip_prefix(&bundle_root)
            .ok()
            .filter(|rest| rest.ends_with("rootfs") && rest.components().count() == 2)
            .and_then(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        match owner {
            Some(id) => {
                mounted.insert(id);
            }
            None => out.push(Finding::Leak(format!("mount {mount} belongs to no task"))),
        }
    }
    out.extend(compare("rootfs mount", &mounted, &tasks, false));
    out.extend(
        running
            .difference(&mounted)
            .map(|id| Finding::Loss(format!("running task {id} has no rootfs mount"))),
    );
    out
}

/// The storage side in `namespaces`: blob files and content records match
/// and every blob hashes to its name; ingest directories match `content
/// active`; snapshot directories match the snapshot records; every
/// container's snapshot exists; every blob an image needs is there.
#[track_caller]
pub fn check_storage(daemon: &Daemon, namespaces: &[String]) -> Vec<Finding> {
    let files = blob_files(daemon);
    let mut records = BTreeSet::new();
    let mut active = 0;
    let mut snapshots = 0;
    let mut out = Vec::new();
    for ns in namespaces {
        records.extend(content_records(daemon, ns));
        active += daemon.active_ingests(ns).len();
        let keys = snapshot_records(daemon, ns);
        snapshots += keys.len();
        out.extend(check_container_snapshots(daemon, ns, &keys));
        out.extend(check_images(daemon, ns, &files));
    }
    let file_digests: BTreeSet<String> = files.keys().cloned().collect();
    out.extend(compare("blob", &file_digests, &records, true));
    for (digest, path) in &files {
        match std::fs::read(path) {
            Ok(bytes) if sha256_digest(&bytes) == *digest => {}
            Ok(bytes) => out.push(Finding::Loss(format!(
                "blob {digest} hashes to {}",
                sha256_digest(&bytes)
            ))),
            Err(e) => out.push(Finding::Loss(format!("blob {digest} unreadable: {e}"))),
        }
    }
    let ingests = ingest_dirs(daemon).len();
    if ingests != active {
        out.push(Finding::Leak(format!(
            "{ingests} ingest directories for {active} active ingests"
        )));
    }
    let dirs = snapshot_dirs(daemon).len();
    if dirs > snapshots {
        out.push(Finding::Leak(format!(
            "{dirs} snapshot directories for {snapshots} snapshot records"
        )));
    } else if dirs < snapshots {
        out.push(Finding::Loss(format!(
            "{snapshots} snapshot records but only {dirs} directories"
        )));
    }
    out
}

/// Every container in `ns` has the snapshot its record names.
#[track_caller]
fn check_container_snapshots(daemon: &Daemon, ns: &str, keys: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    for id in daemon
        .ctr(&["-n", ns, "containers", "ls", "-q"])
        .ok()
        .lines()
    {
        let shown = daemon.ctr(&["-n", ns, "containers", "info", &id]);
        let Some(info) = shown
            .succeeded()
            .then(|| serde_json::from_str::<serde_json::Value>(&shown.stdout()).ok())
            .flatten()
        else {
            out.push(Finding::Error(format!(
                "containers info {id} failed: {shown}"
            )));
            continue;
        };
        if let Some(key) = info["SnapshotKey"].as_str().filter(|k| !k.is_empty())
            && !keys.contains(key)
        {
            out.push(Finding::Loss(format!(
                "container {id}: its snapshot {key} is gone"
            )));
        }
    }
    out
}

/// The images of `ns` (`ctr images ls`): (name, media type, digest).
#[track_caller]
pub fn images(daemon: &Daemon, ns: &str) -> Vec<(String, String, String)> {
    daemon
        .ctr(&["-n", ns, "images", "ls"])
        .ok()
        .lines()
        .into_iter()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            Some((
                cols.next()?.to_string(),
                cols.next()?.to_string(),
                cols.next()?.to_string(),
            ))
        })
        .collect()
}

/// Every image of `ns` is whole: its root, and below an index every
/// manifest for the host's platform, and below a manifest its config and
/// layers, are blob files that hash right (the file names are checked by
/// [`check_storage`]). Other platforms' manifests may be absent.
#[track_caller]
fn check_images(daemon: &Daemon, ns: &str, files: &BTreeMap<String, PathBuf>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, _, digest) in images(daemon, ns) {
        let mut todo = vec![(digest, true)];
        while let Some((digest, required)) = todo.pop() {
            let Some(bytes) = files.get(&digest).and_then(|p| std::fs::read(p).ok()) else {
                if required {
                    out.push(Finding::Loss(format!(
                        "image {name}: blob {digest} is missing"
                    )));
                }
                continue;
            };
            if sha256_digest(&bytes) != digest {
                out.push(Finding::Loss(format!(
                    "image {name}: blob {digest} corrupt"
                )));
                continue;
            }
            todo.extend(children(&bytes));
        }
    }
    out
}

/// The blobs a manifest or index names, each with whether the image needs
/// it on this host.
fn children(bytes: &[u8]) -> Vec<(String, bool)> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let digest = |v: &serde_json::Value| v["digest"].as_str().map(str::to_string);
    let mut out = Vec::new();
    if let Some(manifests) = doc["manifests"].as_array() {
        for m in manifests {
            let platform = &m["platform"];
            let host = platform.is_null()
                || (platform["os"] == "linux" && platform["architecture"] == host_arch());
            out.extend(digest(m).map(|d| (d, host)));
        }
    }
    if doc["config"].is_object() {
        out.extend(digest(&doc["config"]).map(|d| (d, true)));
    }
    if let Some(layers) = doc["layers"].as_array() {
        out.extend(layers.iter().filter_map(digest).map(|d| (d, true)));
    }
    out
}
