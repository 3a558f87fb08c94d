//! `cratectl`'s docker-shaped verbs against a real crated: `run` with
//! short names and the image's command, exit codes, `-d` with its log kept
//! by the shim-run logger, `ps`, `logs`, `exec`, `stop`, `start`, `rm`,
//! `inspect`, `rmi`, and ctr's `run` shape refused with what changed.
//!
//! **Needs root** (every test starts a daemon).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crated_e2e::Daemon;
use crated_e2e::wait_until;
use crated_e2e::workload::{BusyboxRootfs, import_image};

const IMAGE: &str = "docker.io/library/busybox:latest";

fn daemon_with_busybox() -> (Daemon, BusyboxRootfs) {
    let daemon = Daemon::builder().clean_up_containers().start();
    let rootfs = BusyboxRootfs::new();
    import_image(&daemon, &rootfs, IMAGE);
    (daemon, rootfs)
}

#[test]
fn run_short_name_exit_code_and_ctr_shape_refused() {
    let (daemon, _rootfs) = daemon_with_busybox();
    // `busybox` is docker.io/library/busybox:latest; the command follows
    // the image; the exit code is the container's.
    let out = daemon.cratectl(&[
        "run",
        "--rm",
        "--pull=never",
        "-e",
        "GREETING=hi",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; echo err >&2; exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout(), "hi\n");
    assert!(out.stderr.contains("err"), "{out:?}");
    assert!(daemon.ids("containers").is_empty(), "--rm removed it");
    // The image's command (/bin/sh) reads stdin only with -i.
    let out = daemon
        .cratectl_stdin(&["run", "--rm", "-i", "busybox"], b"echo from-stdin\n")
        .ok();
    assert_eq!(out.stdout(), "from-stdin\n");
    // --name, -w, -u, --read-only, --hostname.
    let out = daemon
        .cratectl(&[
            "run",
            "--name",
            "named",
            "-w",
            "/etc",
            "-u",
            "1000",
            "--read-only",
            "--hostname",
            "boxy",
            "busybox",
            "sh",
            "-c",
            "pwd; id -u; hostname; touch /x 2>/dev/null || echo ro",
        ])
        .ok();
    assert_eq!(out.stdout(), "/etc\n1000\nboxy\nro\n");
    let ps = daemon
        .cratectl(&["ps", "-a", "--filter", "status=exited", "-q"])
        .ok();
    assert_eq!(ps.stdout(), "named\n");
    assert!(daemon.cratectl(&["ps", "-q"]).ok().stdout().is_empty());
    daemon.cratectl(&["rm", "named"]).ok();
    // A missing container or image is exit status 1.
    assert_eq!(daemon.cratectl(&["rm", "named"]).code(), Some(1));
    assert_eq!(daemon.cratectl(&["inspect", "named"]).code(), Some(1));
    assert_eq!(daemon.cratectl(&["rmi", "no-such-image"]).code(), Some(1));
    // --pull=never with a missing image.
    let out = daemon
        .cratectl(&["run", "--pull=never", "alpine", "true"])
        .fails();
    out.stderr_has("--pull=never");
    // ctr's shape is refused with what changed.
    let out = daemon
        .cratectl(&["run", "--rootfs", "/", "id", "true"])
        .fails();
    out.stderr_has("containers run");
}

#[test]
fn detached_logs_exec_stop_start_rm() {
    let (daemon, _rootfs) = daemon_with_busybox();
    let out = daemon
        .cratectl(&[
            "run",
            "-d",
            "--name",
            "bg",
            "busybox",
            "sh",
            "-c",
            "echo first; echo oops >&2; trap 'echo bye; exit 0' TERM; while :; do sleep 1; done",
        ])
        .ok();
    assert_eq!(out.stdout(), "bg\n");
    // cratectl has exited: the shim's logger keeps writing the log.
    assert!(
        wait_until(Duration::from_secs(10), || {
            daemon.cratectl(&["logs", "bg"]).stdout().contains("first")
        }),
        "the log did not get the first line"
    );
    let logs = daemon.cratectl(&["logs", "--timestamps", "bg"]).ok();
    assert!(
        logs.stderr.contains("oops"),
        "stderr stays stderr: {logs:?}"
    );
    assert!(logs.stdout().contains("Z first"), "{logs:?}");
    let ps = daemon.cratectl(&["--format", "json", "ps"]).ok().json();
    assert_eq!(ps[0]["ID"], "bg", "{ps}");
    assert_eq!(ps[0]["State"], "running", "{ps}");
    // exec with a generated id, its exit code and -e/-w.
    let out = daemon.cratectl(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "bg",
        "sh",
        "-c",
        "echo $X; pwd; exit 4",
    ]);
    assert_eq!(out.code(), Some(4), "{out:?}");
    assert_eq!(out.stdout(), "1\n/tmp\n");
    // A running container is not removed without -f.
    assert_eq!(daemon.cratectl(&["rm", "bg"]).code(), Some(1));
    // stop: the trap runs on SIGTERM, the exit is recorded.
    daemon.cratectl(&["stop", "-t", "10", "bg"]).ok();
    daemon.cratectl(&["logs", "bg"]).ok().stdout_has("bye");
    assert_eq!(daemon.cratectl(&["wait", "bg"]).ok().stdout(), "0\n");
    let inspect = daemon.cratectl(&["inspect", "bg"]).ok().json();
    assert_eq!(inspect[0]["state"]["status"], "exited", "{inspect}");
    // start again: detached, logging to the same file.
    daemon.cratectl(&["start", "bg"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || {
            daemon
                .cratectl(&["logs", "bg"])
                .stdout()
                .matches("first")
                .count()
                == 2
        }),
        "the restarted container did not log"
    );
    let log_path = inspect[0]["log_path"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&log_path).is_file());
    daemon.cratectl(&["rm", "-f", "bg"]).ok();
    assert!(daemon.ids("containers").is_empty());
    assert!(
        !std::path::Path::new(&log_path).exists(),
        "rm removes the log"
    );
}

#[test]
fn images_tag_rmi() {
    let (daemon, _rootfs) = daemon_with_busybox();
    daemon.cratectl(&["tag", "busybox", "mybox:1"]).ok();
    let images = daemon.cratectl(&["images", "-q"]).ok();
    images.stdout_has("docker.io/library/mybox:1");
    daemon.cratectl(&["rmi", "mybox:1"]).ok();
    daemon
        .cratectl(&["images", "-q"])
        .ok()
        .stdout_lacks("mybox");
}

/// `completion SHELL` prints scripts generated from the command line's
/// definitions; bash's parses (`bash -n`) and names the docker verbs.
#[test]
fn completions_parse() {
    let bash = crated_e2e::Cmd::new(crated_e2e::cratectl_bin())
        .args(["completion", "bash"])
        .run()
        .ok();
    assert!(bash.stdout().contains("logs"), "the verbs are completed");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cratectl.bash");
    std::fs::write(&script, bash.stdout()).unwrap();
    crated_e2e::Cmd::new("bash")
        .args(["-n"])
        .args([&script])
        .run()
        .ok();
    for shell in ["zsh", "fish"] {
        let out = crated_e2e::Cmd::new(crated_e2e::cratectl_bin())
            .args(["completion", shell])
            .run()
            .ok();
        assert!(out.stdout().contains("cratectl"), "{shell}: {out:?}");
    }
}
