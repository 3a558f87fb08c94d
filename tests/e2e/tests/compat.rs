//! Where containerd 1.6 is lenient toward its clients, crated is too:
//! deprecated runtime names, namespaces that do not exist yet.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::time::Duration;

use crated_e2e::Daemon;
use crated_e2e::workload::{BusyboxRootfs, Cleanup};

/// `ctr run --runtime io.containerd.runtime.v1.linux` (containerd's
/// deprecated v1 runtime) creates the container and runs its task on the
/// runc v2 path, logs a deprecation warning and reports it through
/// Introspection.Server (`cratectl info`). Needs root.
#[test]
fn runtime_v1_linux_runs_on_runc_v2() {
    const NS: &str = "compat-runtime-v1";
    let daemon = Daemon::start();
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let id = "v1-linux";
    cleanup.add(id);
    daemon
        .ctr_cmd(&[
            "-n",
            NS,
            "run",
            "--rm",
            "--runtime",
            "io.containerd.runtime.v1.linux",
            "--rootfs",
            &rootfs.arg(),
            id,
            "/bin/sh",
            "-c",
            "echo ran-on-v1-name",
        ])
        .timeout(Duration::from_secs(60))
        .run()
        .ok()
        .stdout_has("ran-on-v1-name");
    let info = daemon.cratectl(&["--format", "json", "info"]).ok().json();
    let deprecations = info["deprecations"].to_string();
    assert!(
        deprecations.contains("io.containerd.deprecation/runtime-v1"),
        "{info}"
    );
    let log = daemon.log();
    assert!(
        log.contains("io.containerd.runtime.v1.linux") && log.contains("deprecated"),
        "no deprecation warning in the log:\n{log}"
    );
}
