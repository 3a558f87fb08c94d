//! Scale: 100 containers running at once through crated, all stopped and
//! cleaned, with no shim, mount or cgroup left.
//!
//! **Needs root** (starts a daemon and 100 containers with runc; see
//! `crated_e2e::Daemon`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crated_e2e::Daemon;
use crated_e2e::workload::{
    BusyboxRootfs, Cleanup, bundle_cgroups_path, cgroups_at, ctr_containers, ctr_tasks,
    expect_shim_pid, mounts_under, wait_pids_gone,
};

const NS: &str = "default";
const COUNT: usize = 100;
const THREADS: usize = 8;
/// The whole test must fit in nextest's limit for e2e tests (3 × 60 s).
const BUDGET: Duration = Duration::from_secs(150);

/// Runs `f(id)` for every id from `THREADS` threads.
fn in_parallel(ids: &[String], f: impl Fn(&str) + Sync) {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let f = &f;
            s.spawn(move || {
                for id in ids.iter().skip(t).step_by(THREADS) {
                    f(id);
                }
            });
        }
    });
}

/// 100 containers (half from an imported image on overlayfs, half from a
/// directory) started with `ctr run -d` from 8 threads, all listed RUNNING,
/// then killed, removed; afterwards no shim process (by the recorded pids),
/// no mount under the daemon's root or state, and no cgroup at any task's
/// `cgroupsPath`. Prints timings. Needs root.
#[test]
fn hundred_containers_at_once() {
    let test_start = Instant::now();
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let image = "docker.io/library/e2e-busybox:latest";
    let tar = rootfs.oci_image_tar(image);
    daemon
        .cratectl_cmd(&["images", "import"])
        .args([&tar])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let ids: Vec<String> = (0..COUNT).map(|i| format!("scale-{i:03}")).collect();
    for id in &ids {
        cleanup.add(id);
    }

    let started = Instant::now();
    in_parallel(&ids, |id| {
        let n: usize = id[6..].parse().unwrap_or(0);
        let args: Vec<String> = if n.is_multiple_of(2) {
            ["run", "-d", image, id, "/bin/sleep", "600"]
                .map(String::from)
                .to_vec()
        } else {
            [
                "run",
                "-d",
                "--rootfs",
                &rootfs.arg(),
                id,
                "/bin/sleep",
                "600",
            ]
            .map(String::from)
            .to_vec()
        };
        daemon
            .ctr_cmd(&args)
            .timeout(Duration::from_secs(60))
            .run()
            .ok();
    });
    let start_time = started.elapsed();
    eprintln!("started {COUNT} containers from {THREADS} threads in {start_time:?}");

    let shims: Mutex<HashMap<String, u32>> = Mutex::new(HashMap::new());
    let mut cgroup_paths = Vec::new();
    for id in &ids {
        let pid = expect_shim_pid(&daemon, NS, id);
        cleanup.shim(pid);
        shims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), pid);
        let path = bundle_cgroups_path(&daemon, NS, id)
            .unwrap_or_else(|| panic!("{id}: no linux.cgroupsPath in the bundle's config.json"));
        cgroup_paths.push(path);
    }
    let shims = shims.into_inner().unwrap_or_else(|e| e.into_inner());
    let shim_pids: Vec<u32> = shims.values().copied().collect();
    let mut distinct = shim_pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    eprintln!(
        "{} shim processes for {COUNT} tasks; cgroupsPath e.g. {}",
        distinct.len(),
        cgroup_paths[0]
    );
    let watched = [daemon.root(), daemon.state()];
    let mounts_running = mounts_under(&watched);
    let cgroups_running: usize = cgroup_paths.iter().map(|p| cgroups_at(p).len()).sum();
    eprintln!(
        "while running: {} mounts under root/state, {cgroups_running} cgroup directories",
        mounts_running.len()
    );
    assert!(
        cgroups_running >= COUNT,
        "expected a cgroup per task while running, found {cgroups_running}"
    );

    let listed = ctr_tasks(&daemon, NS);
    let running = listed
        .iter()
        .filter(|t| ids.contains(&t.0) && t.2 == "RUNNING")
        .count();
    assert_eq!(running, COUNT, "not all tasks RUNNING: {listed:?}");

    let stopping = Instant::now();
    in_parallel(&ids, |id| {
        daemon.ctr(&["tasks", "kill", "-s", "KILL", id]).ok();
    });
    let all_stopped = crated_e2e::wait_until(Duration::from_secs(60), || {
        ctr_tasks(&daemon, NS)
            .iter()
            .filter(|t| t.2 == "STOPPED")
            .count()
            == COUNT
    });
    assert!(
        all_stopped,
        "not all tasks stopped: {:?}",
        ctr_tasks(&daemon, NS)
    );
    let kill_time = stopping.elapsed();
    let removing = Instant::now();
    in_parallel(&ids, |id| {
        daemon.ctr(&["tasks", "rm", id]).ok();
        daemon.ctr(&["containers", "rm", id]).ok();
    });
    let rm_time = removing.elapsed();
    eprintln!("killed all in {kill_time:?}, removed all in {rm_time:?}");

    assert!(ctr_tasks(&daemon, NS).is_empty());
    let containers = ctr_containers(&daemon, NS);
    assert!(containers.is_empty(), "containers left: {containers:?}");

    let left = wait_pids_gone(&shim_pids, Duration::from_secs(20));
    assert!(left.is_empty(), "shim processes left: {left:?}");
    let mounts = mounts_under(&watched);
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups: Vec<_> = cgroup_paths.iter().flat_map(|p| cgroups_at(p)).collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let bundles: Vec<_> = std::fs::read_dir(
        daemon
            .state()
            .join("io.containerd.runtime.v2.task")
            .join(NS),
    )
    .map(|d| d.flatten().map(|e| e.path()).collect())
    .unwrap_or_default();
    assert!(bundles.is_empty(), "bundles left: {bundles:?}");

    let total = test_start.elapsed();
    eprintln!("scale test total {total:?}");
    assert!(total < BUDGET, "the scale test took {total:?}");
    daemon.assert_serving();
}
