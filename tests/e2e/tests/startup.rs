//! How the `crated` binary starts and presents itself to operators: it
//! refuses to start without its content or metadata store (and names a
//! containerd bbolt database), tells systemd when it is ready and stopping,
//! applies `oom_score` and `[cgroup] path`, logs with containerd's level
//! names and JSON format, reports its revision, accepts Go durations such
//! as `1m30s` and migrates old config files.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_e2e::{Cmd, Daemon, crated_bin};
use nix::sys::signal::Signal;

fn crated(args: &[&str]) -> Cmd {
    Cmd::new(crated_bin())
        .env("NO_COLOR", "1")
        .args(args)
        .timeout(Duration::from_secs(20))
}

/// A version 3 config in `dir` with its own root, state and socket, then
/// `extra`.
fn config_in(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "version = 3\nroot = {:?}\nstate = {:?}\n[grpc]\naddress = {:?}\n{extra}\n",
        dir.join("root").display().to_string(),
        dir.join("state").display().to_string(),
        dir.join("crated.sock").display().to_string(),
    );
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crated-e2e.")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// With its metadata store broken, crated exits non-zero with the reason
/// instead of serving with most services missing; no socket is left.
#[test]
fn broken_metadata_store_stops_the_daemon_with_the_reason() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("root")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(
        dir.path().join("root/io.containerd.metadata.v1.bolt"),
        "not a directory",
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let config = config_in(dir.path(), "");
    crated(&["-c", config.to_str().unwrap_or_default()])
        .run()
        .fails()
        .stderr_has("cannot serve without its metadata store")
        .stderr_has("io.containerd.metadata.v1.bolt");
    assert!(!dir.path().join("crated.sock").exists());
}

/// Pointed at a root holding containerd's `meta.db` (bbolt), crated says
/// so and that adopting it is not available yet, and leaves the file alone.
#[test]
fn containerd_meta_db_is_recognised_and_left_alone() {
    let dir = tempdir();
    let bolt = dir.path().join("root/io.containerd.metadata.v1.bolt");
    std::fs::create_dir_all(&bolt).unwrap_or_else(|e| panic!("mkdir: {e}"));
    // A bbolt meta page: 16-byte page header, then the magic 0xED0CDAED.
    let mut page = vec![0u8; 4096];
    page[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    std::fs::write(bolt.join("meta.db"), &page).unwrap_or_else(|e| panic!("write: {e}"));
    let config = config_in(dir.path(), "");
    crated(&["-c", config.to_str().unwrap_or_default()])
        .run()
        .fails()
        .stderr_has("bbolt")
        .stderr_has("containerd")
        .stderr_has("adopt");
    let after = std::fs::read(bolt.join("meta.db")).unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(after, page, "meta.db was modified");
}

/// With NOTIFY_SOCKET set (as systemd's Type=notify does), crated sends
/// READY=1 once it serves and STOPPING=1 when SIGTERM arrives.
#[test]
fn systemd_is_told_ready_and_stopping() {
    let dir = tempdir();
    let notify_path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&notify_path).unwrap_or_else(|e| panic!("bind: {e}"));
    // Guards the test against a daemon that never notifies.
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    let config = config_in(dir.path(), "");
    let daemon = Cmd::new(crated_bin())
        .env("NO_COLOR", "1")
        .env("NOTIFY_SOCKET", &notify_path)
        .args(["-c", config.to_str().unwrap_or_default()])
        .spawn();
    let mut buf = [0u8; 128];
    let n = systemd
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no READY=1: {e}\n{}", daemon.stderr()));
    assert_eq!(&buf[..n], b"READY=1");
    assert!(
        std::os::unix::net::UnixStream::connect(dir.path().join("crated.sock")).is_ok(),
        "READY=1 before the socket accepts connections"
    );
    daemon.signal(Signal::SIGTERM);
    let n = systemd
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no STOPPING=1: {e}\n{}", daemon.stderr()));
    assert_eq!(&buf[..n], b"STOPPING=1");
}

/// Removes the cgroup directories a test created (leaf first), after the
/// daemon in them has stopped.
struct CgroupDirs(Vec<PathBuf>);

impl Drop for CgroupDirs {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `oom_score` is written to the daemon's `oom_score_adj` (a positive
/// score: lowering it needs CAP_SYS_RESOURCE, which a test host may not
/// grant; crated then logs the error and goes on, as containerd does), and `[cgroup]
/// path` moves the daemon into that cgroup in every hierarchy. The path is
/// nested in the test's own memory cgroup, so limits still apply.
#[test]
fn oom_score_and_cgroup_path_are_applied() {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let memory = own
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            (controllers.split(',').any(|c| c == "memory") || controllers.is_empty())
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".into());
    let cgroup = format!(
        "{}/crated-e2e-{}",
        memory.trim_end_matches('/'),
        std::process::id()
    );
    // Every directory the daemon may create, top first, for the cleanup.
    let mut created = Vec::new();
    for entry in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let hierarchy = entry.path();
        if !hierarchy.join("cgroup.procs").exists() {
            continue;
        }
        let mut dir = hierarchy.clone();
        for part in Path::new(&cgroup).components().skip(1) {
            dir.push(part);
            if !dir.exists() {
                created.push(dir.clone());
            }
        }
    }
    created.sort_by_key(|p| p.components().count());
    let _cleanup = CgroupDirs(created);
    let daemon = Daemon::builder()
        .config_top("oom_score = 500")
        .config_tail(&format!("[cgroup]\npath = {cgroup:?}"))
        .start();
    let pid = daemon.pid().unwrap_or_else(|| panic!("daemon has no pid"));
    let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap_or_default();
    assert_eq!(adj.trim(), "500");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let memory_line = cgroups
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
        .or_else(|| cgroups.lines().find(|l| l.starts_with("0::")))
        .unwrap_or_default();
    assert!(memory_line.ends_with(&cgroup), "{cgroup} not in\n{cgroups}");
    drop(daemon);
}

/// `[debug] level = "warning"` (containerd's name) keeps warnings and
/// drops info lines, instead of silencing everything; `format = "json"`
/// writes one JSON object a line with containerd's field names; an inert
/// key is a warning naming it.
#[test]
fn json_logs_with_containerd_level_names() {
    let mut daemon = Daemon::builder()
        .config_top("plugin_dir = \"/opt/containerd/plugins\"")
        .config_tail("[debug]\nlevel = \"warning\"\nformat = \"json\"")
        .start();
    daemon.assert_serving();
    let log = daemon.log();
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let warning = lines
        .iter()
        .find(|l| l["msg"].as_str().is_some_and(|m| m.contains("plugin_dir")))
        .unwrap_or_else(|| panic!("no plugin_dir warning in\n{log}"));
    assert_eq!(warning["level"], "warning");
    assert!(warning["time"].is_string(), "{warning}");
    assert!(
        lines.iter().all(|l| l["level"] != "info"),
        "info lines at level warning:\n{log}"
    );
}

/// An unknown level name is an error naming the accepted ones.
#[test]
fn unknown_log_level_is_an_error() {
    let dir = tempdir();
    let config = config_in(dir.path(), "");
    crated(&["-c", config.to_str().unwrap_or_default(), "-l", "verbose"])
        .run()
        .fails()
        .stderr_has("invalid log level \"verbose\"")
        .stderr_has("warning");
}

/// `crated --version` prints the version and the git revision, and the
/// Version service reports the same revision to `ctr version`.
#[test]
fn version_reports_the_git_revision() {
    let out = crated(&["--version"]).run().ok();
    let text = out.stdout();
    let mut words = text.split_whitespace();
    assert_eq!(words.next(), Some("crated"), "{text}");
    let _version = words.next().unwrap_or_else(|| panic!("no version: {text}"));
    let revision = words
        .next()
        .unwrap_or_else(|| panic!("no revision: {text}"))
        .to_string();
    assert!(
        revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "{text}"
    );
    let daemon = Daemon::start();
    daemon.ctr(&["version"]).ok().stdout_has(&revision);
}

/// The garbage collector's delays take any Go duration (`1m30s` used to
/// fail the plugin); a wrong type in a plugin section stops the daemon
/// naming the file, line and column; unknown plugin keys and plugins are
/// warnings.
#[test]
fn plugin_sections_are_checked_against_their_options() {
    let mut daemon = Daemon::builder()
        .with_gc()
        .config_tail(
            "[plugins.\"io.containerd.gc.v1.scheduler\"]\nstartup_delay = \"1m30s\"\nschedule_delay = \"1.5s\"",
        )
        .start();
    daemon
        .ctr(&["plugins", "ls", "id==scheduler"])
        .ok()
        .stdout_has("ok");
    daemon.stop();

    let dir = tempdir();
    let config = config_in(
        dir.path(),
        "[plugins.\"io.containerd.gc.v1.scheduler\"]\npause_treshold = 0.1\n\
         [plugins.\"io.containerd.tracing.processor.v1.otlp\"]\nendpoint = \"localhost:4317\"\n",
    );
    crated(&["-c", config.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .ok()
        .stderr_has("\"pause_treshold\"")
        .stderr_has("io.containerd.tracing.processor.v1.otlp");
    let config = config_in(
        dir.path(),
        "[plugins.\"io.containerd.gc.v1.scheduler\"]\nstartup_delay = 100\n",
    );
    crated(&["-c", config.to_str().unwrap_or_default()])
        .run()
        .fails()
        .stderr_has(&config.display().to_string())
        .stderr_has("line 7")
        .stderr_has("io.containerd.gc.v1.scheduler");
}

/// `crated config migrate` prints the version 3 form of a version 1 file
/// (containerd 1.x's CRI section split as containerd 2 does it); starting
/// with a version 1 file logs its deprecation.
#[test]
fn version_1_config_migrates_and_is_deprecated() {
    let dir = tempdir();
    let old = dir.path().join("v1.toml");
    std::fs::write(
        &old,
        format!(
            "root = {:?}\nstate = {:?}\n[grpc]\naddress = {:?}\n[plugins.cri]\nsandbox_image = \"registry.k8s.io/pause:3.6\"\n[plugins.cri.containerd]\nsnapshotter = \"overlayfs\"\n[plugins.scheduler]\nstartup_delay = \"24h\"\n",
            dir.path().join("root").display().to_string(),
            dir.path().join("state").display().to_string(),
            dir.path().join("crated.sock").display().to_string(),
        ),
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let out = crated(&["-c", old.to_str().unwrap_or_default(), "config", "migrate"])
        .run()
        .ok();
    let text = out.stdout();
    assert!(text.starts_with("version = 3\n"), "{text}");
    for needle in [
        "[plugins.\"io.containerd.cri.v1.images\".pinned_images]",
        "sandbox = \"registry.k8s.io/pause:3.6\"",
        "[plugins.\"io.containerd.gc.v1.scheduler\"]",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let new = dir.path().join("v3.toml");
    std::fs::write(&new, &text).unwrap_or_else(|e| panic!("write: {e}"));
    crated(&["-c", new.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .ok()
        .stdout_has("startup_delay = \"24h\"")
        .stderr_lacks("deprecated");
    crated(&["-c", old.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .ok()
        .stderr_has("config version 1 is deprecated");
}

/// The overall gRPC health status as Python's grpcio (a grpc-core client)
/// reads it from `grpc.health.v1.Health/Check`.
fn health(socket: &Path) -> String {
    const CHECK: &str = r#"
import sys, grpc
channel = grpc.insecure_channel("unix:" + sys.argv[1], options=[("grpc.default_authority", "localhost")])
answer = channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=20)
status = answer[1] if len(answer) >= 2 and answer[0] == 0x08 else 0
print({1: "SERVING", 2: "NOT_SERVING"}.get(status, "UNKNOWN"))
"#;
    Cmd::new("/usr/bin/python3")
        .args(["-c", CHECK, socket.to_str().unwrap_or_default()])
        .timeout(Duration::from_secs(30))
        .run()
        .ok()
        .stdout()
        .trim()
        .to_string()
}

/// gRPC health is SERVING on a healthy daemon and NOT_SERVING while a gRPC
/// service failed to load (here Introspection, its directory taken by a
/// file), checked with Python's grpcio.
#[test]
fn health_is_not_serving_while_a_service_is_down() {
    let daemon = Daemon::start();
    assert_eq!(health(&daemon.socket()), "SERVING");
    drop(daemon);
    let daemon = Daemon::builder()
        .prepare(|dir| {
            let root = dir.join("root");
            std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("mkdir: {e}"));
            std::fs::write(root.join("io.containerd.grpc.v1.introspection"), "x")
                .unwrap_or_else(|e| panic!("write: {e}"));
        })
        .start();
    assert_eq!(health(&daemon.socket()), "NOT_SERVING");
    assert!(
        daemon.log().contains("io.containerd.grpc.v1.introspection"),
        "{}",
        daemon.log()
    );
}
