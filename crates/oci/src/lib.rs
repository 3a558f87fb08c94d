//! OCI runtime spec generation, the way containerd's `oci` package and
//! `ctr run` build a container's `config.json`, shared by the client
//! library and (next) the daemon's CRI plugin.
//!
//! [`SpecBuilder`] starts from containerd's default Linux spec
//! (`oci.populateDefaultUnixSpec` plus `oci.WithDefaultUnixDevices`) and
//! applies options in the order `ctr run` applies them: environment,
//! extra mounts, root path, image config, read-only root, arguments,
//! working directory, terminal, privileged, host networking, annotations,
//! seccomp, CPU and memory limits, then the user and hostname. After those,
//! the caller's own options ([`SpecOpt`], containerd's `oci.SpecOpts`) run
//! in the order they were added.
//!
//! ```
//! use crated_oci::{SpecBuilder, SpecContext, parse_mount};
//! use oci_spec::runtime::Spec;
//!
//! let spec = SpecBuilder::new("default", "web")
//!     .rootfs_path("/srv/rootfs")
//!     .args(["/bin/sh", "-c", "echo hello"])
//!     .env(["GREETING=hello"])
//!     .mount(parse_mount("type=bind,src=/tmp,dst=/host,options=rbind:ro").unwrap())
//!     .memory_limit(64 << 20)
//!     .with(|ctx: &SpecContext<'_>, spec: &mut Spec| {
//!         spec.set_hostname(Some(format!("{}-host", ctx.id)));
//!         Ok(())
//!     })
//!     .build()
//!     .unwrap();
//! assert_eq!(spec.root().as_ref().unwrap().path().to_str(), Some("/srv/rootfs"));
//! assert_eq!(spec.hostname().as_deref(), Some("web-host"));
//! ```

mod caps;
mod devices;
mod error;
mod mounts;
mod opts;
mod seccomp;
mod state;
mod user;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use oci_spec::runtime::{
    LinuxCpu, LinuxDevice, LinuxMemory, LinuxNamespaceType, LinuxSeccomp, Mount, Spec,
};

pub use caps::{
    ALL as ALL_CAPABILITIES, DEFAULT as DEFAULT_CAPABILITIES, current as current_capabilities,
};
pub use devices::{device_from_path, host_devices};
pub use error::{Error, Result};
pub use mounts::{default_mounts, parse_mount, replace_or_append_env};
/// The OCI runtime spec type this crate builds (from the `oci-spec` crate).
pub use oci_spec::runtime::Spec as OciSpec;
pub use opts::{SpecContext, SpecOpt};
pub use seccomp::default_profile as default_seccomp_profile;
pub use user::{Resolved as ResolvedUser, UserDb, scoped_path, with_primary as with_primary_gid};

use crate::state::{State, bind_mount, device_rule};

/// The `ociVersion` containerd 1.6 writes.
pub const OCI_VERSION: &str = "1.0.2-dev";
/// containerd's default `PATH` (`oci.defaultUnixEnv`).
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The CFS period `--cpus` uses, in microseconds.
pub const CPU_PERIOD: u64 = 100_000;

/// The part of an OCI image config (`config` of the image JSON) a runtime
/// spec is built from: the image model's, `crated_images`'s.
pub use crated_images::manifest::RuntimeConfig as ImageConfig;

/// Which seccomp profile to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// None (containerd's and ctr's default unless `--seccomp`).
    #[default]
    Unconfined,
    /// containerd's default profile, computed for the final capabilities.
    Default,
    /// A profile of the caller's.
    Profile(Box<LinuxSeccomp>),
}

/// Facts about the host some options depend on. `Host::probe` reads
/// them; tests give their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// The capabilities of this process (granted in full to a privileged
    /// container).
    pub capabilities: Vec<String>,
    /// The host's devices (given to a privileged container).
    pub devices: Vec<LinuxDevice>,
    /// The host's name (`HOSTNAME` with host networking).
    pub hostname: String,
    /// Whether the kernel is 4.8 or newer (the default seccomp profile
    /// then allows `ptrace`).
    pub kernel_has_safe_ptrace: bool,
}

impl Host {
    /// Reads what `builder`'s options need from this machine.
    fn probe(builder: &SpecBuilder) -> Result<Host> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io { context, source }
        };
        let mut host = Host::default();
        if builder.privileged {
            host.capabilities =
                caps::current().map_err(io("reading this process's capabilities"))?;
            host.devices = devices::host_devices().map_err(io("listing the host's devices"))?;
        }
        if builder.host_network {
            host.hostname = nix::unistd::gethostname()
                .map_err(|e| Error::Io {
                    context: "reading the host name".into(),
                    source: e.into(),
                })?
                .to_string_lossy()
                .into_owned();
        }
        if builder.seccomp == Seccomp::Default {
            host.kernel_has_safe_ptrace = kernel_at_least(4, 8);
        }
        Ok(host)
    }
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(want_major: u32, want_minor: u32) -> bool {
    let Ok(uname) = nix::sys::utsname::uname() else {
        return false;
    };
    let release = uname.release().to_string_lossy().into_owned();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse::<u32>().ok());
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) >= (want_major, want_minor)
}

/// The caller's options of a builder, in the order added.
#[derive(Clone, Default)]
struct Opts(Vec<Arc<dyn SpecOpt>>);

impl std::fmt::Debug for Opts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} option(s)", self.0.len())
    }
}

/// Builds a container's runtime spec. Every option mirrors a containerd
/// `SpecOpts` (named in its documentation); [`SpecBuilder::with`] adds the
/// caller's own.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    namespace: String,
    id: String,
    image: Option<ImageConfig>,
    args: Vec<String>,
    env: Vec<String>,
    default_path: bool,
    user: Option<String>,
    cwd: Option<String>,
    tty: bool,
    hostname: Option<String>,
    host_network: bool,
    privileged: bool,
    readonly_rootfs: bool,
    memory_limit: Option<u64>,
    cpu_quota: Option<(i64, u64)>,
    cpu_shares: Option<u64>,
    mounts: Vec<Mount>,
    annotations: HashMap<String, String>,
    seccomp: Seccomp,
    rootfs_path: String,
    user_db: Option<UserDb>,
    cgroups_path: Option<String>,
    no_new_privileges: bool,
    host: Option<Host>,
    opts: Opts,
}

impl SpecBuilder {
    /// A builder for container `id` in `namespace`: containerd's default
    /// spec, cgroup `/<namespace>/<id>`, root path `rootfs`.
    pub fn new(namespace: impl Into<String>, id: impl Into<String>) -> Self {
        SpecBuilder {
            namespace: namespace.into(),
            id: id.into(),
            image: None,
            args: Vec::new(),
            env: Vec::new(),
            default_path: false,
            user: None,
            cwd: None,
            tty: false,
            hostname: None,
            host_network: false,
            privileged: false,
            readonly_rootfs: false,
            memory_limit: None,
            cpu_quota: None,
            cpu_shares: None,
            mounts: Vec::new(),
            annotations: HashMap::new(),
            seccomp: Seccomp::Unconfined,
            rootfs_path: "rootfs".to_string(),
            user_db: None,
            cgroups_path: None,
            no_new_privileges: true,
            host: None,
            opts: Opts::default(),
        }
    }

    /// `oci.WithImageConfig`: environment (the image's, else the default
    /// `PATH`), entrypoint and cmd, working directory and user of an image.
    pub fn image_config(mut self, config: ImageConfig) -> Self {
        self.image = Some(config);
        self
    }

    /// `oci.WithProcessArgs`: the process's arguments. Like `ctr run`, they
    /// replace the image's entrypoint and cmd.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// `oci.WithEnv`: `KEY=value` sets or replaces, a bare `KEY` removes.
    /// Applies over the image's environment.
    pub fn env<I, S>(mut self, env: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.env.extend(env.into_iter().map(Into::into));
        self
    }

    /// `oci.WithDefaultPathEnv`: adds containerd's default `PATH` unless
    /// the environment sets one. Useful for a rootfs directory, which has
    /// no image config to give one.
    pub fn default_path_env(mut self) -> Self {
        self.default_path = true;
        self
    }

    /// `oci.WithUser`: `uid`, `name`, `uid:gid` or `name:group`; names are
    /// looked up in the root filesystem given by [`SpecBuilder::user_db`]
    /// (or the absolute [`SpecBuilder::rootfs_path`]).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The user database to resolve users in, e.g. read from a mounted
    /// snapshot with [`UserDb::read`].
    pub fn user_db(mut self, db: UserDb) -> Self {
        self.user_db = Some(db);
        self
    }

    /// `oci.WithProcessCwd`.
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// `oci.WithTTY`: a terminal, and `TERM=xterm`.
    pub fn tty(mut self, tty: bool) -> Self {
        self.tty = tty;
        self
    }

    /// `oci.WithHostname`.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// `ctr run --net-host`: the host's network namespace, its
    /// `/etc/hosts` and `/etc/resolv.conf`, and `HOSTNAME` set to the
    /// host's name.
    pub fn host_network(mut self, host_network: bool) -> Self {
        self.host_network = host_network;
        self
    }

    /// `oci.WithPrivileged` + `WithAllDevicesAllowed` + `WithHostDevices`:
    /// all of this process's capabilities, no masked or read-only paths,
    /// writable sysfs and cgroupfs, no seccomp, every host device.
    pub fn privileged(mut self, privileged: bool) -> Self {
        self.privileged = privileged;
        self
    }

    /// `oci.WithRootFSReadonly`.
    pub fn readonly_rootfs(mut self, readonly: bool) -> Self {
        self.readonly_rootfs = readonly;
        self
    }

    /// `oci.WithMemoryLimit`, in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// `ctr run --cpus`: a CFS quota of `cpus` × 100 ms per 100 ms period.
    pub fn cpus(mut self, cpus: f64) -> Self {
        // Truncation as Go's int64(cpus * 100000.0).
        self.cpu_quota = Some(((cpus * CPU_PERIOD as f64) as i64, CPU_PERIOD));
        self
    }

    /// `oci.WithCPUCFS`: quota and period in microseconds.
    pub fn cpu_cfs(mut self, quota: i64, period: u64) -> Self {
        self.cpu_quota = Some((quota, period));
        self
    }

    /// `oci.WithCPUShares`.
    pub fn cpu_shares(mut self, shares: u64) -> Self {
        self.cpu_shares = Some(shares);
        self
    }

    /// `oci.WithMounts`: one more mount, after the defaults.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// `oci.WithAnnotations`.
    pub fn annotations(mut self, annotations: HashMap<String, String>) -> Self {
        self.annotations.extend(annotations);
        self
    }

    /// The seccomp profile ([`Seccomp::Default`] is `ctr run --seccomp`).
    /// A privileged container gets none whatever is chosen here.
    pub fn seccomp(mut self, seccomp: Seccomp) -> Self {
        self.seccomp = seccomp;
        self
    }

    /// `oci.WithRootFSPath`: the root filesystem path; relative to the
    /// bundle (default `rootfs`, where the snapshot is mounted) or an
    /// absolute directory (`ctr run --rootfs`).
    pub fn rootfs_path(mut self, path: impl Into<String>) -> Self {
        self.rootfs_path = path.into();
        self
    }

    /// `oci.WithCgroup`: the cgroup path instead of `/<namespace>/<id>`.
    pub fn cgroups_path(mut self, path: impl Into<String>) -> Self {
        self.cgroups_path = Some(path.into());
        self
    }

    /// `oci.WithNewPrivileges` (`false`) turns off `noNewPrivileges`.
    pub fn no_new_privileges(mut self, on: bool) -> Self {
        self.no_new_privileges = on;
        self
    }

    /// Facts about the host to use instead of reading them (for tests and
    /// for building a spec for another machine).
    pub fn host(mut self, host: Host) -> Self {
        self.host = Some(host);
        self
    }

    /// Adds `opt`, applied after the built-in options and the options
    /// added before it: a containerd `oci.SpecOpts` of the caller's.
    pub fn with(mut self, opt: impl SpecOpt + 'static) -> Self {
        self.opts.0.push(Arc::new(opt));
        self
    }

    /// The user database: the one given, else the absolute root path's,
    /// else none (ids are then taken as they are, names fail).
    fn users(&self) -> Result<UserDb> {
        if let Some(db) = &self.user_db {
            return Ok(db.clone());
        }
        let root = Path::new(&self.rootfs_path);
        if root.is_absolute() {
            return UserDb::read(root);
        }
        Ok(UserDb::default())
    }

    /// Builds the spec.
    pub fn build(self) -> Result<Spec> {
        let host = match &self.host {
            Some(host) => host.clone(),
            None => Host::probe(&self)?,
        };
        let mut state = State::defaults(&self.namespace, &self.id, self.cgroups_path.clone());
        state.root_path = self.rootfs_path.clone();
        // WithEnv, then withMounts.
        state.env = replace_or_append_env(&[], &self.env);
        state.mounts.extend(self.mounts.iter().cloned());
        let users = if self.image.is_some() || self.user.is_some() {
            Some(self.users()?)
        } else {
            None
        };
        // WithImageConfig.
        if let Some(config) = &self.image {
            let defaults = match &config.env {
                Some(env) if !env.is_empty() => env.clone(),
                _ => vec![DEFAULT_PATH_ENV.to_string()],
            };
            state.env = replace_or_append_env(&defaults, &state.env);
            let mut args = config.entrypoint.clone().unwrap_or_default();
            args.extend(config.cmd.clone().unwrap_or_default());
            state.args = args;
            state.cwd = if config.working_dir.is_empty() {
                "/".to_string()
            } else {
                config.working_dir.clone()
            };
            let db = users.clone().unwrap_or_default();
            if config.user.is_empty() {
                state.set_supplementary(&db, "root");
            } else {
                let (uid, gid) = db.resolve_ids(&config.user)?;
                state.uid = uid;
                state.gid = gid;
                state.additional_gids = Some(user::with_primary(gid, Vec::new()));
                state.set_supplementary(&db, &uid.to_string());
            }
        }
        if self.default_path && !state.env.iter().any(|e| e.starts_with("PATH=")) {
            state.env = replace_or_append_env(&state.env, &[DEFAULT_PATH_ENV.to_string()]);
        }
        state.readonly_root = self.readonly_rootfs;
        if !self.args.is_empty() {
            state.args = self.args.clone();
        }
        if let Some(cwd) = &self.cwd {
            state.cwd = cwd.clone();
        }
        if self.tty {
            state.terminal = true;
            state.env.push("TERM=xterm".to_string());
        }
        if self.privileged {
            state.capabilities = host.capabilities.clone();
            state.masked_paths = None;
            state.readonly_paths = None;
            state.writable_fs("sysfs");
            state.writable_fs("cgroup");
            state.seccomp = None;
            state.device_rules = vec![device_rule(true, None, None, None)];
            state.devices.extend(host.devices.iter().cloned());
        }
        if self.host_network {
            state
                .namespaces
                .retain(|ns| *ns != LinuxNamespaceType::Network);
            state.mounts.push(bind_mount("/etc/hosts", "/etc/hosts"));
            state
                .mounts
                .push(bind_mount("/etc/resolv.conf", "/etc/resolv.conf"));
            state.env = replace_or_append_env(&state.env, &[format!("HOSTNAME={}", host.hostname)]);
        }
        state.annotations.extend(self.annotations.clone());
        if !self.privileged {
            state.seccomp = match &self.seccomp {
                Seccomp::Unconfined => None,
                Seccomp::Default => Some(seccomp::default_profile(
                    &state.capabilities,
                    host.kernel_has_safe_ptrace,
                )),
                Seccomp::Profile(profile) => Some((**profile).clone()),
            };
        }
        if let Some((quota, period)) = self.cpu_quota {
            let cpu = state.cpu.get_or_insert_with(LinuxCpu::default);
            cpu.set_quota(Some(quota));
            cpu.set_period(Some(period));
        }
        if let Some(shares) = self.cpu_shares {
            state
                .cpu
                .get_or_insert_with(LinuxCpu::default)
                .set_shares(Some(shares));
        }
        if let Some(limit) = self.memory_limit {
            let limit = i64::try_from(limit).map_err(|_| {
                Error::InvalidArgument(format!("memory limit {limit} is too large"))
            })?;
            let mut memory = LinuxMemory::default();
            memory.set_limit(Some(limit));
            state.memory = Some(memory);
        }
        if let Some(user) = &self.user {
            let db = users.unwrap_or_default();
            let (uid, gid) = db.resolve_ids(user)?;
            state.uid = uid;
            state.gid = gid;
            state.additional_gids = Some(user::with_primary(gid, Vec::new()));
            state.set_supplementary(&db, &uid.to_string());
        }
        state.hostname = self.hostname.clone();
        state.no_new_privileges = self.no_new_privileges;
        let mut spec = state.into_spec()?;
        let ctx = SpecContext {
            namespace: &self.namespace,
            id: &self.id,
        };
        for opt in &self.opts.0 {
            opt.apply(&ctx, &mut spec)?;
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests;
