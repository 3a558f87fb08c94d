//! Creating, starting, stopping and removing CRI containers through
//! crated's own services (images, snapshots, containers, tasks), the way
//! containerd's CRI plugin drives containerd: the container record carries
//! the plugin's metadata in an extension, the task's output is copied
//! into the CRI log by the daemon, and the init process's exit is recorded
//! with its reason as soon as the task reports it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crated_api::cri::{
    ContainerConfig, ContainerEventType, ContainerState, Mount as CriMount, PodSandboxMetadata,
};
use crated_api::types::Mount;
use crated_client::Client;
use crated_client::cio::FifoSet;
use crated_client::container::{core_mounts, mount_layers, user_db_from_layers};
use crated_client::containers::{Container, Runtime};
use crated_client::images::{self, Platform};
use prost_types::Any;

use super::logger::ContainerLog;
use super::mounts::image_volume_mounts;
use super::pod::PodContext;
use super::record::{
    METADATA_EXTENSION, METADATA_TYPE_URL, Metadata, Status, config_json, parse_signal,
};
use super::spec::{ContainerInput, SpecOptions, container_spec};
use super::store::{ContainerStore, Entry, now_nanos};
use super::volumes::copy_volume;
use crate::error::{Error, Result};
use crate::log::Stream;

/// How long a container's creation lease lives if the plugin dies
/// before deleting it.
const SNAPSHOT_LEASE_EXPIRY: Duration = Duration::from_secs(3600);

/// The label containerd's CRI marks its containers with.
pub const KIND_LABEL: &str = "io.cri-containerd.kind";

/// What creating a container needs besides the CRI request.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The runtime the pod's handler names.
    pub runtime: Runtime,
    /// The snapshotter images are unpacked into.
    pub snapshotter: String,
    /// The plugin's per-container directory root (status files).
    pub root: PathBuf,
    /// Spec settings and host facts.
    pub spec: SpecOptions,
    /// Leave out the volumes the image declares (the plugin's
    /// `ignore_image_defined_volumes`); otherwise each gets a directory of
    /// its own under the container's directory, filled from the image.
    pub ignore_image_volumes: bool,
}

/// Creates container `config` in `pod`: reserves its name, prepares a
/// snapshot on the image, builds the spec and stores the record and the
/// entry. Undoes what it did on failure.
pub async fn create(
    client: &Client,
    store: &ContainerStore,
    pod: &PodContext,
    config: &ContainerConfig,
    options: &CreateOptions,
) -> Result<Arc<Entry>> {
    let meta = config.metadata.as_ref().ok_or_else(|| {
        Error::InvalidArgument("container config has no metadata: set metadata.name".into())
    })?;
    if meta.name.is_empty() {
        return Err(Error::InvalidArgument(
            "container metadata has no name".into(),
        ));
    }
    let pod_meta = PodSandboxMetadata {
        name: pod.pod_name.clone(),
        uid: pod.pod_uid.clone(),
        namespace: pod.pod_namespace.clone(),
        attempt: pod.pod_attempt,
    };
    let name = crate::store::names::container_name(meta, &pod_meta);
    let id = crated_core::identifiers::generate_id();
    store.reserve_name(&name, &id)?;
    let made = create_reserved(client, store, pod, config, options, &id, &name).await;
    if made.is_err() {
        store.release_name(&name);
        remove_container_dir(&options.root.join(&id));
    }
    made
}

async fn create_reserved(
    client: &Client,
    store: &ContainerStore,
    pod: &PodContext,
    config: &ContainerConfig,
    options: &CreateOptions,
    id: &str,
    name: &str,
) -> Result<Arc<Entry>> {
    let reference = config
        .image
        .as_ref()
        .map(|i| i.image.clone())
        .unwrap_or_default();
    if reference.is_empty() {
        return Err(Error::InvalidArgument(
            "container config names no image".into(),
        ));
    }
    let image = client
        .images()
        .get(&reference)
        .await
        .map_err(Error::client(format!(
            "looking up image {reference:?} (pull it first)"
        )))?;
    let resolved = images::resolve(&client.content(), &image.target, &Platform::host())
        .await
        .map_err(Error::client(format!("reading image {reference:?}")))?;
    let declared_volumes = if options.ignore_image_volumes {
        Vec::new()
    } else {
        resolved.config.config.volume_paths()
    };
    let volume_mounts = image_volume_mounts(
        &declared_volumes,
        &config.mounts,
        &options.root.join(id).join("volumes"),
    );
    let meta = store_with_snapshot(
        client,
        &options.snapshotter,
        id,
        &resolved.chain_id(),
        |mounts| {
            let users = user_db_from_layers(&mount_layers(mounts)).map_err(Error::client(
                "reading the image's /etc/passwd and /etc/group",
            ))?;
            fill_image_volumes(mounts, &volume_mounts)?;
            let image_config = resolved.config.config.clone();
            let spec = container_spec(
                pod,
                &ContainerInput {
                    id,
                    config,
                    image: &image_config,
                    image_name: &image.name,
                    users,
                    volume_mounts,
                    target_pid: None,
                },
                &options.spec,
            )?;
            let log_path = if pod.log_directory.is_empty() || config.log_path.is_empty() {
                String::new()
            } else {
                Path::new(&pod.log_directory)
                    .join(&config.log_path)
                    .to_string_lossy()
                    .into_owned()
            };
            let meta = Metadata {
                id: id.to_string(),
                name: name.to_string(),
                sandbox_id: pod.sandbox_id.clone(),
                config: config_json(config),
                image_ref: resolved.config_descriptor.digest.to_string(),
                log_path,
                stop_signal: image_config.stop_signal.clone(),
            };
            let mut record = Container::new(id, options.runtime.clone(), &spec)
                .map_err(Error::client("encoding the container's spec"))?;
            record.labels = config.labels.clone();
            record.labels.insert(KIND_LABEL.into(), "container".into());
            record.image = image.name.clone();
            record.extensions.insert(
                METADATA_EXTENSION.into(),
                Any {
                    type_url: METADATA_TYPE_URL.into(),
                    value: meta.encode()?,
                },
            );
            Ok((record, meta))
        },
    )
    .await?;
    let status = Status {
        created_at: now_nanos(),
        ..Status::default()
    };
    let status_path = options.root.join(id).join("status");
    status.save(&status_path)?;
    let entry = store.add(Entry {
        meta,
        status: Mutex::new(status),
        status_path,
        log: Mutex::new(None),
        stdin_fifo: Mutex::new(None),
        exited: tokio::sync::watch::channel(false).0,
    })?;
    store.publish(&entry, ContainerEventType::ContainerCreatedEvent);
    Ok(entry)
}

/// Copies what the image has at each image volume's path into the
/// volume's directory, reading the container's fresh root filesystem
/// (`rootfs`, the snapshot's mounts) through a read-only temporary mount.
fn fill_image_volumes(rootfs: &[Mount], volumes: &[CriMount]) -> Result<()> {
    if volumes.is_empty() {
        return Ok(());
    }
    crated_mount::with_readonly_temp_mount(&core_mounts(rootfs), |root: &Path| {
        volumes.iter().try_for_each(|volume| {
            copy_volume(root, &volume.container_path, Path::new(&volume.host_path))
        })
    })
}

/// Removes what a failed create left in the container's directory (its
/// image volumes); a failure is only logged, the create's error matters.
fn remove_container_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "removing the directory of a container that failed to be created");
    }
}

/// Prepares snapshot `id` of `snapshotter` on `chain_id` and stores the
/// container record `build` makes from the snapshot's mounts (with the
/// snapshot set on it); removes the snapshot if building or storing fails.
pub(crate) async fn store_with_snapshot<T>(
    client: &Client,
    snapshotter: &str,
    id: &str,
    chain_id: &str,
    build: impl FnOnce(&[Mount]) -> Result<(Container, T)>,
) -> Result<T> {
    // Under a lease until the record references the snapshot: a garbage
    // collection in between would take the fresh, unreferenced snapshot.
    let leased = crated_client::leases::with_lease(client, SNAPSHOT_LEASE_EXPIRY, |leased| async move {
        let snapshots = leased.snapshots(snapshotter.to_string());
        let mounts = match snapshots.prepare(id, chain_id, HashMap::new()).await {
            Ok(mounts) => mounts,
            Err(e) => {
                return Ok(Err(Error::client(format!(
                    "preparing the root filesystem of container {id}"
                ))(e)));
            }
        };
        let built = async {
            let (mut record, value) = build(&mounts)?;
            record.snapshotter = snapshotter.to_string();
            record.snapshot_key = id.to_string();
            leased
                .containers()
                .create(&record)
                .await
                .map_err(Error::client(format!("storing container {id}")))?;
            Ok::<T, Error>(value)
        }
        .await;
        if built.is_err()
            && let Err(err) = snapshots.remove(id).await
        {
            tracing::warn!(id, error = %err, "removing the snapshot of a container not created");
        }
        Ok(built)
    })
    .await;
    leased.map_err(Error::client(format!(
        "leasing the snapshot of container {id}"
    )))?
}

/// Copies FIFO `path` into `log` once the shim opens it.
fn copy_fifo(log: &ContainerLog, path: PathBuf, stream: Stream, max_line: usize) {
    let log = log.clone();
    tokio::spawn(async move {
        // Opening blocks (on a blocking thread) until the shim opens its end.
        match tokio::fs::File::open(&path).await {
            Ok(file) => {
                if let Ok(Err(e)) = log.copy(file, stream, max_line).await {
                    tracing::warn!(path = %path.display(), error = %e, "copying container output to its log");
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "opening a container output FIFO")
            }
        }
    });
}

/// Whether the cgroup at `cgroups_path` saw an OOM kill (cgroup v2's
/// `memory.events`, v1's `memory.oom_control`).
fn oom_killed(cgroups_path: &str) -> bool {
    let rel = cgroups_path.trim_start_matches('/');
    let v2 = Path::new("/sys/fs/cgroup").join(rel).join("memory.events");
    let v1 = Path::new("/sys/fs/cgroup/memory")
        .join(rel)
        .join("memory.oom_control");
    for file in [v2, v1] {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.lines().any(|l| {
                let mut it = l.split_whitespace();
                it.next() == Some("oom_kill") && it.next().is_some_and(|n| n != "0")
            });
        }
    }
    false
}

/// Starts a created container: FIFOs, log copiers, task create and
/// start, then a watcher that records the exit (with `OOMKilled` when
/// the cgroup saw an OOM kill) and deletes the task.
pub async fn start(
    client: &Client,
    store: &Arc<ContainerStore>,
    entry: &Arc<Entry>,
    fifo_root: &Path,
    max_log_line: usize,
) -> Result<()> {
    let status = entry.status();
    if status.state() != ContainerState::ContainerCreated || status.removing {
        return Err(Error::FailedPrecondition(format!(
            "container {} is not in the created state (it is {:?}): create a new one",
            entry.meta.id,
            status.state()
        )));
    }
    let id = entry.meta.id.clone();
    let config = super::record::config_from_json(&entry.meta.config);
    let record = client
        .containers()
        .get(&id)
        .await
        .map_err(Error::client(format!("reading container {id}")))?;
    let cgroups_path = record
        .spec_json()
        .and_then(|s| s["linux"]["cgroupsPath"].as_str().map(String::from))
        .unwrap_or_default();
    let fifos = FifoSet::create(fifo_root, &id, config.stdin, config.tty).map_err(
        Error::client(format!("creating the FIFOs of container {id}")),
    )?;
    attach_log(entry, &fifos, max_log_line).await?;
    let started = async {
        client
            .create_task(&record, fifos.stdio())
            .await
            .map_err(Error::client(format!(
                "creating the task of container {id}"
            )))?;
        // Subscribe to the exit before starting, so a quick exit is not missed.
        let waiter = {
            let client = client.clone();
            let id = id.clone();
            tokio::spawn(async move { client.tasks().wait(&id, "").await })
        };
        // Taken before the start: the task's exit time (the shim's clock)
        // can precede any time read after Start answers.
        let started_at = now_nanos();
        let pid = match client.tasks().start(&id, "").await {
            Ok(pid) => pid,
            Err(e) => {
                waiter.abort();
                let _ = client.tasks().delete(&id).await;
                return Err(Error::client(format!("starting container {id}"))(e));
            }
        };
        Ok((pid, waiter, started_at))
    }
    .await;
    let (pid, waiter, started_at) = match started {
        Ok(v) => v,
        Err(e) => {
            let message = e.to_string();
            let _ = entry.update(|s| {
                s.reason = "StartError".into();
                s.message = message;
                s.exited(128, now_nanos(), false);
            });
            let _ = entry.exited.send(true);
            fifos.remove();
            return Err(e);
        }
    };
    entry.update(|s| {
        s.pid = pid;
        s.started_at = started_at;
    })?;
    store.publish(entry, ContainerEventType::ContainerStartedEvent);
    watch_exit(client, store, entry, waiter, cgroups_path, fifos);
    Ok(())
}

/// Copies the output FIFOs in `fifos` into the container's CRI log, and
/// keeps the stdin FIFO's path for Attach.
pub(crate) async fn attach_log(entry: &Entry, fifos: &FifoSet, max_log_line: usize) -> Result<()> {
    if let Ok(mut slot) = entry.stdin_fifo.lock() {
        slot.clone_from(&fifos.stdin);
    }
    // Without a log path the output is still read, for Attach, and kept
    // nowhere.
    let path = if entry.meta.log_path.is_empty() {
        "/dev/null"
    } else {
        entry.meta.log_path.as_str()
    };
    let log = ContainerLog::open(path).await?;
    if let Some(p) = fifos.stdout.clone() {
        copy_fifo(&log, p, Stream::Stdout, max_log_line);
    }
    if let Some(p) = fifos.stderr.clone() {
        copy_fifo(&log, p, Stream::Stderr, max_log_line);
    }
    if let Ok(mut slot) = entry.log.lock() {
        *slot = Some(log);
    }
    Ok(())
}

/// The wait for a task's exit.
pub(crate) type ExitWaiter = tokio::task::JoinHandle<
    std::result::Result<crated_client::tasks::ExitStatus, crated_client::Error>,
>;

/// Records the init process's exit when `waiter` reports it (with
/// `OOMKilled` when the cgroup at `cgroups_path` saw an OOM kill), deletes
/// the task and removes the FIFOs.
pub(crate) fn watch_exit(
    client: &Client,
    store: &Arc<ContainerStore>,
    entry: &Arc<Entry>,
    waiter: ExitWaiter,
    cgroups_path: String,
    fifos: FifoSet,
) {
    let (client, store, entry) = (client.clone(), store.clone(), entry.clone());
    tokio::spawn(async move {
        let exit = waiter.await;
        let oom = oom_killed(&cgroups_path);
        let (code, at) = match exit {
            Ok(Ok(st)) => (
                i32::try_from(st.code).unwrap_or(i32::MAX),
                st.exited_at
                    .and_then(|t| t.timestamp_nanos_opt())
                    .unwrap_or_else(now_nanos),
            ),
            _ => (255, now_nanos()),
        };
        if let Err(e) = client.tasks().delete(&entry.meta.id).await {
            tracing::warn!(id = %entry.meta.id, error = %e, "deleting the exited task");
        }
        if let Err(e) = entry.update(|s| s.exited(code, at, oom)) {
            tracing::warn!(id = %entry.meta.id, error = %e, "recording a container's exit");
        }
        let _ = entry.exited.send(true);
        store.publish(&entry, ContainerEventType::ContainerStoppedEvent);
        fifos.remove();
    });
}

/// Stops a running container: its stop signal (the image's, else
/// SIGTERM), then SIGKILL once `timeout` has passed; returns when the exit
/// is recorded. Stopping a container that is not running is a no-op.
pub async fn stop(client: &Client, entry: &Entry, timeout: Duration) -> Result<()> {
    if entry.status().state() != ContainerState::ContainerRunning {
        return Ok(());
    }
    let id = &entry.meta.id;
    let mut exited = entry.exited.subscribe();
    if !timeout.is_zero() {
        let signal = parse_signal(&entry.meta.stop_signal)?;
        let signal = u32::try_from(signal).unwrap_or(15);
        match client.tasks().kill(id, "", signal, false).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::client(format!("signalling container {id}"))(e)),
        }
        if tokio::time::timeout(timeout, exited.wait_for(|e| *e))
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
    match client.tasks().kill(id, "", 9, true).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(Error::client(format!("killing container {id}"))(e)),
    }
    exited
        .wait_for(|e| *e)
        .await
        .map(|_| ())
        .map_err(|_| Error::FailedPrecondition(format!("container {id}'s exit watcher went away")))
}

/// Removes a container: stops it at once if it runs, deletes the record
/// and its snapshot, its status directory and the store's entry.
pub async fn remove(
    client: &Client,
    store: &ContainerStore,
    entry: &Entry,
    root: &Path,
) -> Result<()> {
    entry.update(|s| s.removing = true)?;
    stop(client, entry, Duration::ZERO).await?;
    let id = &entry.meta.id;
    match client.delete_container(id, true).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(Error::client(format!("deleting container {id}"))(e)),
    }
    let dir = root.join(id);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(Error::Io {
            what: "removing the container's directory",
            path: dir,
            source: e,
        });
    }
    store.remove(id);
    store.publish(entry, ContainerEventType::ContainerDeletedEvent);
    Ok(())
}
