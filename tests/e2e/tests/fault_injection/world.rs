//! The world the suite works on, and its kill points.
//!
//! One daemon whose collector runs only on request, so every check follows
//! an explicit collection; a registry holding the test image; an image for
//! containers; a sentinel task that runs for the whole suite; and the
//! containers made so far (at most [`MAX_CONTAINERS`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crated_e2e::cmd::signal_pid;
use crated_e2e::faults::inventory::{
    SETTLE, check_storage, check_tasks, collect, content_records, images, shims,
};
use crated_e2e::faults::{Finding, Rng, Tally};
use crated_e2e::image::build_image;
use crated_e2e::registry::Registry;
use crated_e2e::workload::{
    BusyboxRootfs, ctr_containers, ctr_task_status, pid_alive, wait_pids_gone,
};
use crated_e2e::{Background, Cmd, Daemon, Events, bins, sha256_digest, test_bytes, wait_until};
use nix::sys::signal::Signal;

use crate::ops::Op;

/// The namespace the suite works in.
pub const NS: &str = "faults";
/// The image containers run.
pub const RUN_IMAGE: &str = "docker.io/faults/run:1";
/// The image the import operation imports.
pub const IMPORT_IMAGE: &str = "docker.io/faults/import:1";
/// The task that runs for the whole suite.
const SENTINEL: &str = "sentinel";
/// Containers (besides the sentinel) alive at once.
pub const MAX_CONTAINERS: usize = 4;
/// How long a client may take to exit once the daemon is gone, and a
/// request after a restart may take.
pub const REQUEST: Duration = Duration::from_secs(60);
/// How long an event may take to be published.
const EVENT: Duration = Duration::from_secs(15);

/// The daemon, the registry and what the suite made.
pub struct World {
    /// The daemon under test.
    pub daemon: Daemon,
    _registry: Registry,
    _rootfs: BusyboxRootfs,
    /// The test image's reference in the registry.
    pub remote: String,
    /// An OCI archive of [`IMPORT_IMAGE`].
    pub import_archive: PathBuf,
    /// Containers the suite made, besides the sentinel.
    pub containers: BTreeSet<String>,
    /// A counter for fresh names.
    pub next: usize,
}

impl World {
    /// Starts the daemon and the registry, pushes the test image, imports
    /// the container image, starts the sentinel, and checks that the
    /// inventory is clean to begin with.
    #[track_caller]
    pub fn set_up() -> World {
        let daemon = Daemon::builder().clean_up_containers().start();
        daemon.ctr(&["namespaces", "create", NS]).ok();
        let rootfs = BusyboxRootfs::new();
        let run_tar = rootfs.oci_image_tar(RUN_IMAGE);
        daemon
            .cratectl_cmd(&["-n", NS, "images", "import"])
            .args([&run_tar])
            .timeout(REQUEST)
            .run()
            .ok();
        let import_archive = rootfs.oci_image_tar_with(
            IMPORT_IMAGE,
            serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "Labels": {"faults": "import"}}),
        );
        let registry = Registry::start();
        let remote = format!("{}/faults/pull:1", registry.host());
        let image = build_image();
        let archive = daemon.create_file("pull.tar", image.oci_archive(&remote));
        let archive = archive.display().to_string();
        daemon
            .ctr_cmd(&["-n", NS, "images", "import", "--all-platforms", &archive])
            .timeout(REQUEST)
            .run()
            .ok();
        daemon
            .ctr_cmd(&["-n", NS, "images", "push", "--plain-http", &remote])
            .timeout(REQUEST)
            .run()
            .ok();
        daemon
            .ctr(&["-n", NS, "images", "rm", "--sync", &remote])
            .ok();
        let mut world = World {
            daemon,
            _registry: registry,
            _rootfs: rootfs,
            remote,
            import_archive,
            containers: BTreeSet::new(),
            next: 0,
        };
        world.run_container(SENTINEL);
        let found = world.settle();
        assert!(
            found.is_empty(),
            "the inventory is not clean before any kill: {found:?}"
        );
        world
    }

    /// `ctr -n faults <args>` bounded by [`REQUEST`].
    pub fn ctr(&self, args: &[&str]) -> crated_e2e::Output {
        let mut all = vec!["-n", NS];
        all.extend_from_slice(args);
        self.daemon.ctr_cmd(&all).timeout(REQUEST).run()
    }

    /// `ctr -n faults <args>` in the background.
    pub fn spawn_ctr(&self, args: &[&str]) -> Background {
        let mut all = vec!["-n", NS];
        all.extend_from_slice(args);
        self.daemon.ctr_cmd(&all).spawn()
    }

    /// `sh -c` running `ctr -n faults` once per argument list, in order,
    /// in the background: the status is the last one's.
    pub fn spawn_ctr_script(&self, calls: &[Vec<String>]) -> Background {
        let ctr = format!(
            "{} -a {} -n {NS}",
            bins::ctr_bin().display(),
            self.daemon.socket().display()
        );
        let script: Vec<String> = calls
            .iter()
            .map(|args| format!("{ctr} {}", args.join(" ")))
            .collect();
        Cmd::new("sh").args(["-c", &script.join("; ")]).spawn()
    }

    /// The arguments of `ctr run -d` for a sleeping container `id`.
    pub fn run_args(id: &str) -> Vec<String> {
        ["run", "-d", RUN_IMAGE, id, "/bin/sleep", "100000"]
            .map(String::from)
            .to_vec()
    }

    /// Runs container `id` to a running task (fails the test if it cannot).
    #[track_caller]
    pub fn run_container(&mut self, id: &str) {
        let args = Self::run_args(id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr(&args).ok();
        if id != SENTINEL {
            self.containers.insert(id.to_string());
        }
    }

    /// A fresh name with `prefix`.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// Whether image `name` is listed.
    pub fn has_image(&self, name: &str) -> bool {
        images(&self.daemon, NS).iter().any(|(n, _, _)| n == name)
    }

    /// The init pid of task `id` from the OCI runtime's state (readable
    /// while the daemon is down).
    fn init_pid(&self, id: &str) -> Option<u32> {
        let path = self
            .daemon
            .state()
            .join("runc")
            .join(NS)
            .join(id)
            .join("state.json");
        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        state["init_process_pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
    }

    /// One kill point: of a shim one time in four, else of the daemon.
    pub fn kill_point(&mut self, point: usize, rng: &mut Rng, tally: &mut Tally) {
        if rng.chance(25) {
            self.shim_point(point, rng, tally);
        } else {
            self.daemon_point(point, rng, tally);
        }
    }

    /// Starts an operation, SIGKILLs the daemon after a random delay, maybe
    /// kills a task's init while it is down, restarts it and checks.
    fn daemon_point(&mut self, point: usize, rng: &mut Rng, tally: &mut Tally) {
        let op = Op::choose(self, rng);
        *tally.per_operation.entry(op.name().into()).or_default() += 1;
        tally.daemon_kills += 1;
        let mut found = Vec::new();
        let (mut client, subject) = op.start(self, rng, &mut found);
        std::thread::sleep(Duration::from_millis(rng.below(op.window_ms())));
        if !client.running() {
            tally.after_completion += 1;
        }
        self.daemon.kill9();
        let out = client.wait(REQUEST);
        let victim = if rng.chance(30) {
            self.kill_an_init(rng)
        } else {
            None
        };
        if victim.is_some() {
            tally.exits_while_down += 1;
        }
        self.daemon.restart();
        let events = Events::start(&self.daemon);
        if let Some(id) = &victim {
            found.extend(expect_exit(
                &events,
                id,
                "its init was killed while the daemon was down",
            ));
        }
        events.stop();
        found.extend(self.check_sentinel());
        found.extend(op.verify(self, &subject, &out, victim.as_deref()));
        found.extend(self.tidy());
        found.extend(self.settle());
        tally.record(point, op.name(), found);
    }

    /// SIGKILLs the init of a running container of the suite (not the
    /// sentinel) while the daemon is down; returns its id.
    fn kill_an_init(&mut self, rng: &mut Rng) -> Option<String> {
        let candidates: Vec<(String, u32)> = self
            .containers
            .iter()
            .filter_map(|id| Some((id.clone(), self.init_pid(id)?)))
            .filter(|(_, pid)| pid_alive(*pid))
            .collect();
        let (id, pid) = rng.pick(&candidates)?.clone();
        signal_pid(pid, Signal::SIGKILL);
        let left = wait_pids_gone(&[pid], Duration::from_secs(10));
        assert!(left.is_empty(), "init {pid} of {id} survived SIGKILL");
        Some(id)
    }

    /// SIGKILLs the shim of a running container, idle or while an exec
    /// runs in it: its exit is published, the task is no longer shown
    /// running, and it can be removed without leftovers.
    fn shim_point(&mut self, point: usize, rng: &mut Rng, tally: &mut Tally) {
        let exec = rng.chance(50);
        let op = if exec {
            "shim-kill-exec"
        } else {
            "shim-kill-idle"
        };
        *tally.per_operation.entry(op.into()).or_default() += 1;
        tally.shim_kills += 1;
        let mut found = Vec::new();
        let running: Vec<String> = self
            .containers
            .iter()
            .filter(|id| ctr_task_status(&self.daemon, NS, id).as_deref() == Some("RUNNING"))
            .cloned()
            .collect();
        let id = match rng.pick(&running) {
            Some(id) => id.clone(),
            None => {
                let id = self.fresh("s");
                self.run_container(&id);
                id
            }
        };
        let Some(shim) = shims(&self.daemon, NS).get(&id).copied() else {
            found.push(Finding::Loss(format!("running task {id} has no shim")));
            tally.record(point, op, found);
            return;
        };
        let events = Events::start(&self.daemon);
        let exec_client = exec.then(|| {
            let exec_id = self.fresh("e");
            self.spawn_ctr(&[
                "tasks",
                "exec",
                "--exec-id",
                &exec_id,
                &id,
                "/bin/sleep",
                "5",
            ])
        });
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        signal_pid(shim, Signal::SIGKILL);
        if let Some(client) = exec_client {
            let _ = client.wait(REQUEST);
        }
        found.extend(expect_exit(&events, &id, "its shim was killed"));
        events.stop();
        let stopped = wait_until(SETTLE, || {
            ctr_task_status(&self.daemon, NS, &id).as_deref() != Some("RUNNING")
        });
        if !stopped {
            found.push(Finding::Loss(format!(
                "task {id} is still shown RUNNING after its shim died"
            )));
        }
        found.extend(self.check_sentinel());
        found.extend(self.tidy());
        found.extend(self.settle());
        tally.record(point, op, found);
    }

    /// The sentinel is still running and managed: its shim answers `ps`.
    fn check_sentinel(&self) -> Vec<Finding> {
        let status = ctr_task_status(&self.daemon, NS, SENTINEL);
        let ps = self.ctr(&["tasks", "ps", SENTINEL]);
        if status.as_deref() == Some("RUNNING") && ps.succeeded() {
            Vec::new()
        } else {
            vec![Finding::Loss(format!(
                "the sentinel task is not managed: status {status:?}, ps: {ps}"
            ))]
        }
    }

    /// Removes container `id` with its task, as a client would after a
    /// failure: whatever is left of it must go.
    pub fn remove_container(&mut self, id: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        if ctr_task_status(&self.daemon, NS, id).is_some() {
            let rm = self.ctr(&["tasks", "rm", "-f", id]);
            if !rm.succeeded() {
                found.push(Finding::Error(format!("removing the task of {id}: {rm}")));
            }
        }
        if ctr_containers(&self.daemon, NS).iter().any(|c| c == id) {
            let rm = self.ctr(&["containers", "rm", id]);
            if !rm.succeeded() {
                found.push(Finding::Error(format!("removing container {id}: {rm}")));
            }
        }
        self.containers.remove(id);
        found
    }

    /// Removes every container of the suite whose task is not running, and
    /// reports container records the suite did not make.
    fn tidy(&mut self) -> Vec<Finding> {
        let mut found = Vec::new();
        let ours: Vec<String> = self.containers.iter().cloned().collect();
        for id in ours {
            if ctr_task_status(&self.daemon, NS, &id).as_deref() != Some("RUNNING") {
                found.extend(self.remove_container(&id));
            }
        }
        for id in ctr_containers(&self.daemon, NS) {
            if id != SENTINEL && !self.containers.contains(&id) {
                found.push(Finding::Leak(format!("container record {id} nobody made")));
            }
        }
        found
    }

    /// Collects, then checks the task side until it settles (shims exit
    /// asynchronously) and the storage side.
    pub fn settle(&self) -> Vec<Finding> {
        collect(&self.daemon, NS);
        let mut tasks = Vec::new();
        wait_until(SETTLE, || {
            tasks = check_tasks(&self.daemon, NS);
            tasks.is_empty()
        });
        let namespaces = self.daemon.namespaces();
        let mut storage = check_storage(&self.daemon, &namespaces);
        if !storage.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
            collect(&self.daemon, NS);
            storage = check_storage(&self.daemon, &namespaces);
        }
        tasks.extend(storage);
        tasks
    }

    /// The end: the sentinel is killed and its exit published; everything
    /// is removed and nothing is left.
    pub fn finish(&mut self, tally: &mut Tally) {
        let point = tally.points() + 1;
        let mut found = Vec::new();
        let events = Events::start(&self.daemon);
        let kill = self.ctr(&["tasks", "kill", "-s", "KILL", SENTINEL]);
        if !kill.succeeded() {
            found.push(Finding::Loss(format!("killing the sentinel: {kill}")));
        }
        found.extend(expect_exit(&events, SENTINEL, "it was killed"));
        events.stop();
        let ours: Vec<String> = self.containers.iter().cloned().collect();
        for id in ours.iter().map(String::as_str).chain([SENTINEL]) {
            found.extend(self.remove_container(id));
        }
        for image in [RUN_IMAGE, IMPORT_IMAGE, self.remote.as_str()] {
            if self.has_image(image) {
                self.ctr(&["images", "rm", "--sync", image]).ok();
            }
        }
        let leases = self.ctr(&["leases", "ls", "-q"]).ok().lines();
        if !leases.is_empty() {
            let mut args = vec!["leases", "rm", "--sync"];
            args.extend(leases.iter().map(String::as_str));
            self.ctr(&args).ok();
        }
        found.extend(self.settle());
        let records = content_records(&self.daemon, NS);
        if !records.is_empty() {
            found.push(Finding::Leak(format!(
                "content left after removing everything: {records:?}"
            )));
        }
        tally.record(point, "final", found);
    }

    /// Writes `data` to a file in the daemon's directory (for a resumed
    /// content write).
    pub fn data_file(&self, name: &str, data: &[u8]) -> PathBuf {
        self.daemon.create_file(name, data)
    }
}

/// Waits for `/tasks/exit` of task `id` in the suite's namespace.
fn expect_exit(events: &Events, id: &str, why: &str) -> Vec<Finding> {
    let quoted = format!("\"{id}\"");
    let seen = wait_until(EVENT, || {
        events.events().iter().any(|(ns, topic, payload)| {
            ns == NS && topic == "/tasks/exit" && payload.contains(&quoted)
        })
    });
    if seen {
        Vec::new()
    } else {
        vec![Finding::Loss(format!(
            "no /tasks/exit for {id} ({why}) within {EVENT:?}"
        ))]
    }
}

/// A content write's blob: seeded bytes and their digest.
pub fn write_blob(seed: u64, len: usize) -> (Vec<u8>, String) {
    let data = test_bytes(len, seed);
    let digest = sha256_digest(&data);
    (data, digest)
}
