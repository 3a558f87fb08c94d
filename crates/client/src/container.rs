//! The client-side flows of containerd's `NewContainer`, `NewTask` and
//! `Container.Delete`: a container from an image gets a writable snapshot
//! prepared on the image's top layer (chain id); a container from a
//! directory names it as its root path and has no snapshot; a task gets
//! the snapshot's mounts as its root filesystem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_api::types::Mount;
use oci_spec::runtime::Spec;

use crate::client::Client;
use crate::containers::{Container, Runtime};
use crate::error::{Error, Result};
use crate::images::{self, Platform};
use crate::spec::{SpecBuilder, UserDb};
use crate::tasks::{CreateTask, Stdio};

/// The label holding the image's stop signal on a container
/// (containerd's `WithImageStopSignal`).
pub const STOP_SIGNAL_LABEL: &str = "io.containerd.image.config.stop-signal";

/// Where a container's root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// An image, unpacked into `snapshotter`: the container gets a new
    /// writable snapshot on the image's top layer.
    Image {
        /// The image reference.
        reference: String,
        /// The snapshotter holding the unpacked image.
        snapshotter: String,
    },
    /// A directory used as it is (`ctr run --rootfs`); no snapshot.
    Directory(PathBuf),
}

/// What to create a container with.
#[derive(Debug, Clone)]
pub struct NewContainer {
    /// The container id (also the snapshot key).
    pub id: String,
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// The runtime and its options.
    pub runtime: Runtime,
    /// Labels to add (over the image's config labels).
    pub labels: HashMap<String, String>,
    /// Labels for the new snapshot.
    pub snapshot_labels: HashMap<String, String>,
    /// The platform whose manifest to use from a multi-platform image.
    pub platform: Platform,
}

impl NewContainer {
    /// A container `id` on `rootfs` with the default runtime and no
    /// labels.
    pub fn new(id: impl Into<String>, rootfs: Rootfs) -> Self {
        NewContainer {
            id: id.into(),
            rootfs,
            runtime: Runtime {
                name: crate::runtime_options::DEFAULT_RUNTIME.to_string(),
                options: None,
            },
            labels: HashMap::new(),
            snapshot_labels: HashMap::new(),
            platform: Platform::host(),
        }
    }
}

/// `mounts` as the mount helpers take them (`crated_core::mount::Mount`).
pub fn core_mounts(mounts: &[Mount]) -> Vec<crated_core::mount::Mount> {
    mounts
        .iter()
        .map(|m| crated_core::mount::Mount {
            mount_type: m.r#type.clone(),
            source: m.source.clone(),
            target: m.target.clone(),
            options: m.options.clone(),
        })
        .collect()
}

/// The directories a snapshot's mounts stack, top first: an overlay's
/// upper and lower directories, or a bind mount's source. Lets a client
/// read files of a snapshot without mounting it.
pub fn mount_layers(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut layers = Vec::new();
    for mount in mounts {
        match mount.r#type.as_str() {
            "bind" | "rbind" => layers.push(PathBuf::from(&mount.source)),
            "overlay" => {
                for option in &mount.options {
                    if let Some(upper) = option.strip_prefix("upperdir=") {
                        layers.insert(0, PathBuf::from(upper));
                    }
                }
                for option in &mount.options {
                    if let Some(lower) = option.strip_prefix("lowerdir=") {
                        layers.extend(lower.split(':').map(PathBuf::from));
                    }
                }
            }
            _ => {}
        }
    }
    layers
}

/// The user database of a layered root filesystem: for each of
/// `/etc/passwd` and `/etc/group`, the topmost layer that has it.
pub fn user_db_from_layers(layers: &[PathBuf]) -> Result<UserDb> {
    let find = |name: &str| -> Option<PathBuf> {
        layers
            .iter()
            .map(|layer| crate::spec::scoped_path(layer, &format!("/etc/{name}")))
            .find(|path| path.is_file())
    };
    let read = |path: Option<PathBuf>| -> Result<Option<String>> {
        path.map(|p| {
            std::fs::read_to_string(&p).map_err(|source| Error::Io {
                context: format!("reading {}", p.display()),
                source,
            })
        })
        .transpose()
    };
    let passwd = read(find("passwd"))?;
    let group = read(find("group"))?;
    Ok(UserDb::from_text(passwd.as_deref(), group.as_deref()))
}

impl Client {
    /// Creates a container: resolves the image and prepares its snapshot
    /// (under a temporary lease, so nothing is collected half-way), fills
    /// `spec` from the image config and the root filesystem's users, and
    /// stores the record. On failure the snapshot is removed again.
    pub async fn create_container(
        &self,
        new: NewContainer,
        spec: SpecBuilder,
    ) -> Result<Container> {
        match new.rootfs.clone() {
            Rootfs::Directory(dir) => {
                let dir = absolute(&dir)?;
                let spec = spec.rootfs_path(dir.display().to_string()).build()?;
                let container = Container {
                    labels: new.labels.clone(),
                    ..container_record(&new, &spec)?
                };
                self.containers().create(&container).await
            }
            Rootfs::Image {
                reference,
                snapshotter,
            } => {
                crate::leases::with_lease(self, Duration::from_secs(3600), |leased| async move {
                    leased
                        .create_from_image(&new, &reference, &snapshotter, spec)
                        .await
                })
                .await
            }
        }
    }

    async fn create_from_image(
        &self,
        new: &NewContainer,
        reference: &str,
        snapshotter: &str,
        spec: SpecBuilder,
    ) -> Result<Container> {
        let image = self.images().get(reference).await?;
        let resolved = images::resolve(&self.content(), &image.target, &new.platform).await?;
        let chain_id = resolved.chain_id();
        let snapshots = self.snapshots(snapshotter);
        match snapshots.stat(&chain_id).await {
            Ok(_) => {}
            Err(err) if err.is_not_found() => {
                return Err(Error::Daemon(crated_core::Error::failed_precondition(
                    format!(
                        "image {reference} is not unpacked in snapshotter {snapshotter} (no snapshot {chain_id}); unpack it first"
                    ),
                )));
            }
            Err(err) => return Err(err),
        }
        let mounts = snapshots
            .prepare(&new.id, &chain_id, new.snapshot_labels.clone())
            .await?;
        let built = (|| -> Result<Spec> {
            let users = user_db_from_layers(&mount_layers(&mounts))?;
            Ok(spec
                .image_config(resolved.config.config.clone())
                .user_db(users)
                .build()?)
        })();
        let created = match built {
            Ok(spec) => {
                let mut labels: HashMap<String, String> =
                    resolved.config.config.labels.clone().unwrap_or_default();
                labels.extend(new.labels.clone());
                let stop_signal = if resolved.config.config.stop_signal.is_empty() {
                    "SIGTERM".to_string()
                } else {
                    resolved.config.config.stop_signal.clone()
                };
                labels.insert(STOP_SIGNAL_LABEL.to_string(), stop_signal);
                let container = Container {
                    labels,
                    image: image.name.clone(),
                    snapshotter: snapshotter.to_string(),
                    snapshot_key: new.id.clone(),
                    ..container_record(new, &spec)?
                };
                self.containers().create(&container).await
            }
            Err(err) => Err(err),
        };
        if created.is_err()
            && let Err(err) = snapshots.remove(&new.id).await
        {
            tracing::warn!(key = %new.id, error = %err, "removing the snapshot of a container not created");
        }
        created
    }

    /// Creates the task of `container` with `stdio`: the root filesystem
    /// mounts come from the container's snapshot, if it has one. Returns
    /// the init process's pid.
    pub async fn create_task(&self, container: &Container, stdio: Stdio) -> Result<u32> {
        let mut rootfs = Vec::new();
        if !container.snapshot_key.is_empty() {
            if container.snapshotter.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "container {} has a snapshot key but no snapshotter",
                    container.id
                )));
            }
            rootfs = self
                .snapshots(container.snapshotter.clone())
                .mounts(&container.snapshot_key)
                .await?
                .into_iter()
                .map(|m| Mount {
                    target: String::new(),
                    ..m
                })
                .collect();
        }
        self.tasks()
            .create(CreateTask {
                container_id: container.id.clone(),
                rootfs,
                stdio,
                options: None,
                runtime_path: String::new(),
            })
            .await
    }

    /// Deletes container `id` (containerd's `Container.Delete` with
    /// `WithSnapshotCleanup` when `remove_snapshot`): refused while it has
    /// a task; the snapshot is removed first, then the record.
    pub async fn delete_container(&self, id: &str, remove_snapshot: bool) -> Result<()> {
        match self.tasks().get(id, "").await {
            Ok(task) => {
                return Err(Error::Daemon(crated_core::Error::failed_precondition(
                    format!(
                        "cannot delete container {id}: its task is {} (kill and delete the task first)",
                        task.status.as_str().to_lowercase()
                    ),
                )));
            }
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(err),
        }
        let container = self.containers().get(id).await?;
        if remove_snapshot && !container.snapshot_key.is_empty() {
            if container.snapshotter.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "container {id} has a snapshot key but no snapshotter to remove it from"
                )));
            }
            match self
                .snapshots(container.snapshotter.clone())
                .remove(&container.snapshot_key)
                .await
            {
                Ok(()) => {}
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        self.containers().delete(id).await
    }
}

fn container_record(new: &NewContainer, spec: &Spec) -> Result<Container> {
    Container::new(new.id.clone(), new.runtime.clone(), spec)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        context: format!("resolving {}", path.display()),
        source,
    })
}

/// The process spec for an exec into a container: the container's process
/// with `args`, `terminal`, and optionally another working directory and
/// user (`ctr tasks exec`).
pub fn exec_process(
    spec: &Spec,
    args: Vec<String>,
    terminal: bool,
    cwd: Option<&str>,
    user: Option<(u32, u32, Vec<u32>)>,
) -> Result<oci_spec::runtime::Process> {
    let mut process = spec.process().clone().ok_or_else(|| {
        Error::InvalidArgument("the container's spec has no process to exec from".into())
    })?;
    process.set_args(Some(args));
    process.set_terminal(terminal.then_some(true));
    if let Some(cwd) = cwd {
        process.set_cwd(PathBuf::from(cwd));
    }
    if let Some((uid, gid, gids)) = user {
        let user = process.user_mut();
        user.set_uid(uid);
        user.set_gid(gid);
        user.set_additional_gids(Some(gids));
    }
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(t: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            r#type: t.to_string(),
            source: source.to_string(),
            target: String::new(),
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn layers_of_overlay_and_bind_mounts() {
        let overlay = mount(
            "overlay",
            "overlay",
            &[
                "index=off",
                "workdir=/s/3/work",
                "upperdir=/s/3/fs",
                "lowerdir=/s/2/fs:/s/1/fs",
            ],
        );
        assert_eq!(
            mount_layers(&[overlay]),
            vec![
                PathBuf::from("/s/3/fs"),
                PathBuf::from("/s/2/fs"),
                PathBuf::from("/s/1/fs")
            ]
        );
        let bind = mount("bind", "/s/1/fs", &["rbind", "ro"]);
        assert_eq!(mount_layers(&[bind]), vec![PathBuf::from("/s/1/fs")]);
    }

    #[test]
    fn users_come_from_the_topmost_layer() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let upper = dir.path().join("upper");
        let lower = dir.path().join("lower");
        for (layer, passwd) in [
            (&upper, "app:x:5:6::/:/bin/sh\n"),
            (&lower, "app:x:1:1::/:/bin/sh\n"),
        ] {
            assert!(std::fs::create_dir_all(layer.join("etc")).is_ok());
            assert!(std::fs::write(layer.join("etc/passwd"), passwd).is_ok());
        }
        assert!(std::fs::write(lower.join("etc/group"), "grp:x:9:app\n").is_ok());
        let Ok(db) = user_db_from_layers(&[upper, lower]) else {
            panic!("read");
        };
        assert_eq!(db.resolve_ids("app").ok(), Some((5, 6)));
        assert_eq!(db.supplementary_gids("app"), vec![9]);
    }
}
