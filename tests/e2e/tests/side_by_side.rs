//! crated next to containerd on one host: Debian's containerd 1.6 (its own
//! temporary root, state and socket, its own Go shim) and a test crated run
//! a container with the same namespace and id at once, and deleting or
//! failing on one never touches the other. containerd's Go shim keeps runc's
//! state in `/run/containerd/runc/<ns>` whatever containerd's state
//! directory is; our shim keeps it under crated's state
//! (`<state>/runc/<ns>`), so the two runc roots never meet. The namespace
//! is unique to the test run.
//!
//! **Needs root** (both daemons, runc, cgroups) and Debian's `containerd`
//! and `busybox-static`.

use std::path::Path;
use std::time::Duration;

use crated_e2e::containerd_peer::{Containerd, GO_SHIM_RUNC_ROOT};
use crated_e2e::workload::{BusyboxRootfs, Cleanup, cgroups_at, pid_alive};
use crated_e2e::{Daemon, Output, wait_until};

const ID: &str = "same";

/// `(pid, status)` of task `ID` in `ctr tasks ls` output.
fn task(out: &Output) -> Option<(u32, String)> {
    out.lines().into_iter().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        (cols.next()? == ID).then_some(())?;
        Some((cols.next()?.parse().ok()?, cols.next()?.to_string()))
    })
}

/// SIGKILLs task `ID` of `ns` through `ctr` (one daemon's), waits for it
/// to stop, and deletes the task and the container.
#[track_caller]
fn kill_and_remove(who: &str, ns: &str, ctr: impl Fn(&[&str]) -> Output) {
    ctr(&["-n", ns, "tasks", "kill", "-s", "KILL", ID]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || {
            task(&ctr(&["-n", ns, "tasks", "ls"]).ok()).is_some_and(|(_, s)| s == "STOPPED")
        }),
        "{who}'s task did not stop"
    );
    ctr(&["-n", ns, "tasks", "rm", ID]).ok();
    ctr(&["-n", ns, "containers", "rm", ID]).ok();
}

/// Removes the parent cgroups the test's `--cgroup` paths created.
struct CgroupParents(Vec<String>);

impl Drop for CgroupParents {
    fn drop(&mut self) {
        for parent in &self.0 {
            for dir in cgroups_at(parent) {
                let _ = std::fs::remove_dir(dir.join(ID));
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[test]
fn crated_and_containerd_run_the_same_namespace_and_id_at_once() {
    let ns = format!("e2e-side-{}", std::process::id());
    let cd_cgroup = format!("/{ns}-containerd");
    let our_cgroup = format!("/{ns}-crated");
    let _parents = CgroupParents(vec![cd_cgroup.clone(), our_cgroup.clone()]);
    let daemon = Daemon::start();
    let mut cleanup = Cleanup::new(&daemon, &ns);
    cleanup.add(ID);
    let mut containerd = Containerd::start();
    containerd.track(&ns, ID);
    let (cd_rootfs, our_rootfs) = (BusyboxRootfs::new(), BusyboxRootfs::new());
    let run = |cgroup: &str, rootfs: &BusyboxRootfs, cmd: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["-n", &ns, "run", "-d", "--cgroup"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(format!("{cgroup}/{ID}"));
        args.extend(["--rootfs".to_string(), rootfs.arg(), ID.to_string()]);
        args.extend(cmd.iter().map(|s| s.to_string()));
        args
    };
    let cd_task = || task(&containerd.ctr(&["-n", &ns, "tasks", "ls"]).ok());
    let our_task = || task(&daemon.ctr(&["-n", &ns, "tasks", "ls"]).ok());

    // Both run `<ns>/same` at once.
    containerd
        .ctr(&run(&cd_cgroup, &cd_rootfs, &["/bin/sleep", "1000"]))
        .ok();
    let (cd_pid, status) = cd_task().unwrap_or_else(|| panic!("containerd lists no task {ID}"));
    assert_eq!(status, "RUNNING");
    daemon
        .ctr(&run(&our_cgroup, &our_rootfs, &["/bin/sleep", "1000"]))
        .ok();
    let (our_pid, status) = our_task().unwrap_or_else(|| panic!("crated lists no task {ID}"));
    assert_eq!(status, "RUNNING");
    assert_ne!(cd_pid, our_pid);
    assert!(pid_alive(cd_pid) && pid_alive(our_pid));
    let ours = daemon.state().join("runc").join(&ns).join(ID);
    assert!(
        ours.join("state.json").is_file(),
        "crated's runc state is not under its own state dir ({})",
        ours.display()
    );
    assert!(
        Path::new(GO_SHIM_RUNC_ROOT)
            .join(&ns)
            .join(ID)
            .join("state.json")
            .is_file(),
        "containerd's Go shim keeps runc's state elsewhere than {GO_SHIM_RUNC_ROOT}"
    );

    // Deleting crated's container leaves containerd's running.
    kill_and_remove("crated", &ns, |args| daemon.ctr(args));
    assert_eq!(cd_task(), Some((cd_pid, "RUNNING".to_string())));
    assert!(pid_alive(cd_pid), "containerd's container died");

    // A create that fails on crated with the same id leaves it running too.
    let mut failing = run(&our_cgroup, &our_rootfs, &["/no/such/binary"]);
    failing.retain(|a| a != "-d");
    failing.insert(3, "--rm".to_string());
    daemon
        .ctr(&failing)
        .fails()
        .stderr_has("failed to create shim task");
    let _ = daemon.ctr(&["-n", &ns, "containers", "rm", ID]);
    assert_eq!(cd_task(), Some((cd_pid, "RUNNING".to_string())));
    assert!(pid_alive(cd_pid), "containerd's container died");

    // And the other way round: containerd deleting its container leaves
    // crated's running.
    daemon
        .ctr(&run(&our_cgroup, &our_rootfs, &["/bin/sleep", "1000"]))
        .ok();
    let (our_pid, _) = our_task().unwrap_or_else(|| panic!("crated lists no task {ID}"));
    kill_and_remove("containerd", &ns, |args| containerd.ctr(args));
    assert_eq!(our_task(), Some((our_pid, "RUNNING".to_string())));
    assert!(pid_alive(our_pid), "crated's container died");
}
