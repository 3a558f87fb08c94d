//! Nothing is left behind by crashes and abandoned requests around tasks:
//! a Create interrupted by a daemon crash, or abandoned by its client while
//! the runtime hangs, leaves no shim, runtime process, bundle or mount, and
//! the id can be used again; exits that happened while the daemon was down
//! are published when it is back.
//!
//! The hanging runtime is a script given as the runc binary
//! (`ctr run --runc-binary`, the runc options' BinaryName): it hangs on
//! `create` and hands every other command to runc, so no image is needed.
//!
//! **Needs root** (containers run with runc; see `crated_e2e::Daemon`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_e2e::workload::{
    BusyboxRootfs, Cleanup, bundle_dir, ctr_run_sleeper, ctr_tasks, expect_shim_pid,
    find_shim_process, import_image, mounts_under, pid_alive, wait_pids_gone,
};
use crated_e2e::{Daemon, Events, wait_until};
use nix::sys::signal::Signal;

const NS: &str = "default";

/// Writes the hanging runtime into the daemon's directory: `create` records
/// its pid in `<dir>/hung-create.pid` and sleeps; `delete` succeeds (there
/// is nothing to delete); everything else goes to runc.
fn hanging_runtime(daemon: &Daemon) -> (PathBuf, PathBuf) {
    let pid_file = daemon.dir().join("hung-create.pid");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do\n  case \"$a\" in\n    create) echo $$ > {pid}; exec sleep 600;;\n    delete) exit 0;;\n  esac\ndone\nexec /usr/sbin/runc \"$@\"\n",
        pid = pid_file.display()
    );
    let path = daemon.create_file("hanging-runc", script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    (path, pid_file)
}

/// Waits for the hanging `create` to start; returns its pid.
fn hung_create_pid(pid_file: &Path) -> u32 {
    let mut pid = None;
    wait_until(Duration::from_secs(30), || {
        pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("the runtime's create never started"))
}

/// SIGKILLs a process the test made (by pid) if it outlives the test.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            crated_e2e::cmd::signal_pid(self.0, Signal::SIGKILL);
        }
    }
}

/// Asserts nothing of task `id` is left: no bundle, no mount below it, no
/// shim, no hung runtime process; then runs `id` again with runc.
#[track_caller]
fn assert_clean_and_reusable(daemon: &Daemon, rootfs: &BusyboxRootfs, id: &str, hung: u32) {
    let bundle = bundle_dir(daemon, NS, id);
    assert!(
        wait_until(Duration::from_secs(60), || !bundle.exists()),
        "bundle {} left behind",
        bundle.display()
    );
    assert!(
        mounts_under(std::slice::from_ref(&bundle)).is_empty(),
        "mounts left"
    );
    let socket = daemon.socket().display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || find_shim_process(
            &socket, NS, id
        )
        .is_none()),
        "a shim of {id} is still running"
    );
    assert!(
        wait_pids_gone(&[hung], Duration::from_secs(10)).is_empty(),
        "the hung runtime create {hung} is still running"
    );
    assert!(
        !ctr_tasks(daemon, NS).iter().any(|(t, _, _)| t == id),
        "task {id} still listed"
    );
    daemon.ctr(&["containers", "rm", id]).ok();
    daemon
        .ctr_cmd(&["run", "--rm", "--rootfs", &rootfs.arg(), id, "/bin/true"])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
}

/// The daemon is SIGKILLed while the runtime hangs in `create`; after the
/// restart the half-created task's shim is shut down, its runtime process
/// killed and its bundle removed, and the id works again. Needs root.
#[test]
fn a_create_interrupted_by_a_crash_is_cleaned_up_on_restart() {
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let (runtime, pid_file) = hanging_runtime(&daemon);
    let id = format!("crash-create-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(&id);
    let runtime = runtime.display().to_string();
    let mut client = ctr_run_sleeper(&daemon, &rootfs, &id, &["--runc-binary", &runtime]).spawn();
    let hung = hung_create_pid(&pid_file);
    let _hung = KillOnDrop(hung);
    let shim = expect_shim_pid(&daemon, NS, &id);
    cleanup.shim(shim);
    daemon.kill9();
    client.kill();
    daemon.restart();
    assert_clean_and_reusable(&daemon, &rootfs, &id, hung);
    assert!(!pid_alive(shim), "shim {shim} survived");
}

/// The client gives up (SIGKILL) while the runtime hangs in `create`: the
/// daemon bounds the call, then shuts the shim down, kills the hung
/// runtime and removes the bundle; the id works again. Needs root.
#[test]
fn an_abandoned_create_with_a_hung_runtime_is_cleaned_up() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let (runtime, pid_file) = hanging_runtime(&daemon);
    let id = format!("abandoned-create-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(&id);
    let runtime = runtime.display().to_string();
    let mut client = ctr_run_sleeper(&daemon, &rootfs, &id, &["--runc-binary", &runtime]).spawn();
    let hung = hung_create_pid(&pid_file);
    let _hung = KillOnDrop(hung);
    cleanup.shim(expect_shim_pid(&daemon, NS, &id));
    client.kill();
    assert_clean_and_reusable(&daemon, &rootfs, &id, hung);
}

/// A task whose init is killed while the daemon is down (after a SIGKILL)
/// gets its `/tasks/exit` published when the daemon is back, with the exit
/// status, even after the shim's own publishing retries gave up. Needs
/// root.
#[test]
fn exits_while_the_daemon_was_down_are_published() {
    let mut daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let id = format!("exit-while-down-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(&id);
    ctr_run_sleeper(&daemon, &rootfs, &id, &[]).run().ok();
    cleanup.shim(expect_shim_pid(&daemon, NS, &id));
    let init = ctr_tasks(&daemon, NS)
        .into_iter()
        .find(|(t, _, _)| *t == id)
        .map(|(_, pid, _)| pid)
        .unwrap_or_else(|| panic!("task {id} not listed"));
    daemon.kill9();
    crated_e2e::cmd::signal_pid(init, Signal::SIGKILL);
    assert!(wait_pids_gone(&[init], Duration::from_secs(10)).is_empty());
    // Outlast the shim's own retries (1 + 2 + 3 + 4 + 5 s), so what is
    // checked is the daemon's recovery.
    std::thread::sleep(Duration::from_secs(16));
    daemon.restart();
    let events = Events::start(&daemon);
    let exit = events.expect(NS, "/tasks/exit");
    assert!(exit.contains(&id), "{exit}");
    assert!(exit.contains("137"), "exit status 137 expected: {exit}");
    events.stop();
}

/// A shim SIGKILLed while the daemon runs (not across a restart): the
/// daemon notices, publishes `/tasks/exit` and `/tasks/delete` for its
/// task, and removes what the shim left: the runtime's container (so the
/// container's process goes too), the rootfs mount and the bundle; the
/// container record stays and can be removed. Needs root.
#[test]
fn a_shim_killed_while_the_daemon_runs_is_cleaned_up_and_its_exit_published() {
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let image = "docker.io/library/e2e-dead-shim:1";
    import_image(&daemon, &rootfs, image);
    let id = format!("dead-shim-{}", std::process::id());
    let mut cleanup = Cleanup::new(&daemon, NS);
    cleanup.add(&id);
    daemon
        .ctr_cmd(&["run", "-d", image, &id, "/bin/sleep", "300"])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
    let shim = expect_shim_pid(&daemon, NS, &id);
    cleanup.shim(shim);
    let init = ctr_tasks(&daemon, NS)
        .into_iter()
        .find(|(t, _, _)| *t == id)
        .map(|(_, pid, _)| pid)
        .unwrap_or_else(|| panic!("task {id} not listed"));
    let bundle = bundle_dir(&daemon, NS, &id);
    assert!(
        !mounts_under(std::slice::from_ref(&bundle)).is_empty(),
        "the running task's rootfs is mounted"
    );
    let events = Events::start(&daemon);
    crated_e2e::cmd::signal_pid(shim, Signal::SIGKILL);
    let exit = events.expect(NS, "/tasks/exit");
    assert!(exit.contains(&id), "{exit}");
    let delete = events.expect(NS, "/tasks/delete");
    assert!(delete.contains(&id), "{delete}");
    events.stop();
    assert!(
        wait_pids_gone(&[init], Duration::from_secs(10)).is_empty(),
        "the container's init {init} outlived its dead shim"
    );
    assert!(!bundle.exists(), "bundle {} left", bundle.display());
    assert!(
        mounts_under(std::slice::from_ref(&bundle)).is_empty(),
        "rootfs still mounted"
    );
    let runc_state = daemon.state().join("runc").join(NS).join(&id);
    assert!(!runc_state.exists(), "runtime container {id} left");
    assert!(
        !ctr_tasks(&daemon, NS).iter().any(|(t, _, _)| *t == id),
        "task {id} still listed"
    );
    daemon.ctr(&["containers", "rm", &id]).ok();
}
