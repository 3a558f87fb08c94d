//! The daemon binary's configuration handling: malformed files, unknown
//! keys, `config default`, `config dump` with imports, flag overrides.
//!
//! **Needs root** (tests that start a daemon; see `crated_e2e::Daemon`).

use std::path::Path;
use std::time::Duration;

use crated_e2e::{Cmd, Daemon, crated_bin, test_bytes};

fn crated(args: &[&str]) -> Cmd {
    Cmd::new(crated_bin()).env("NO_COLOR", "1").args(args)
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The value of top-level key `key` (or `section.key`) in TOML text printed
/// by crated, as written (quotes included).
fn toml_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
        } else if let Some((k, v)) = line.split_once('=')
            && current == section
            && k.trim() == key
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// A malformed config file makes crated exit non-zero at once, naming the
/// file and the line and column of the error; a daemon already running is
/// not affected. Needs root.
#[test]
fn malformed_config_exits_with_file_and_position() {
    let mut daemon = Daemon::start();
    let digest = daemon.ingest("default", "kept", b"kept\n");
    let bad = daemon.dir().join("bad.toml");
    write(
        &bad,
        "version = 3\nroot = \"/tmp/never-used\"\n[grpc\naddress = \"/tmp/never.sock\"\n",
    );
    let out = crated(&["-c", bad.to_str().unwrap_or_default()])
        .timeout(Duration::from_secs(10))
        .run()
        .fails();
    out.stderr_has(&bad.display().to_string())
        .stderr_has("line 3")
        .stderr_has("column");
    assert!(!Path::new("/tmp/never.sock").exists());

    // A wrong type is reported the same way.
    write(&bad, "version = 3\n[grpc]\naddress = 42\n");
    crated(&["-c", bad.to_str().unwrap_or_default()])
        .timeout(Duration::from_secs(10))
        .run()
        .fails()
        .stderr_has(&bad.display().to_string())
        .stderr_has("line 3");

    // `config dump` refuses it too.
    crated(&["-c", bad.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .fails()
        .stderr_has(&bad.display().to_string());

    // An explicitly named config file that does not exist is an error.
    let missing = daemon.dir().join("missing.toml");
    crated(&["-c", missing.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .fails()
        .stderr_has(&missing.display().to_string());

    daemon.assert_intact("default", &digest, b"kept\n");
}

/// A key crated does not implement is a warning naming it (with its
/// section), and the daemon starts and serves. Needs root.
#[test]
fn unknown_config_key_warns_and_starts() {
    let mut daemon = Daemon::start_with_config(
        "[debug]\nno_such_key = true\n\n[plugins.\"io.containerd.content.v1.content\"]\n",
    );
    daemon.assert_serving();
    let log = daemon.log();
    assert!(
        log.contains("debug.no_such_key"),
        "no warning naming debug.no_such_key in the log:\n{log}"
    );
    assert!(log.contains("WARN"), "not logged as a warning:\n{log}");
    crated(&[
        "-c",
        daemon.config_path().to_str().unwrap_or_default(),
        "config",
        "dump",
    ])
    .run()
    .ok()
    .stderr_has("debug.no_such_key");
}

/// `crated config default` prints a complete version 3 config with crated's
/// default paths, which crated parses back unchanged (`config dump` of it is
/// identical). Needs root.
#[test]
fn config_default_parses_back() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let default = crated(&["config", "default"]).run().ok().stdout();
    assert_eq!(toml_value(&default, "", "version").as_deref(), Some("3"));
    assert_eq!(
        toml_value(&default, "", "root").as_deref(),
        Some("\"/var/lib/crated\"")
    );
    assert_eq!(
        toml_value(&default, "", "state").as_deref(),
        Some("\"/run/crated\"")
    );
    assert_eq!(
        toml_value(&default, "grpc", "address").as_deref(),
        Some("\"/run/crated/crated.sock\"")
    );
    assert_eq!(
        toml_value(&default, "grpc", "max_recv_message_size").as_deref(),
        Some("16777216")
    );
    let path = dir.path().join("default.toml");
    write(&path, &default);
    let dumped = crated(&["-c", path.to_str().unwrap_or_default(), "config", "dump"])
        .run()
        .ok();
    dumped.stderr_lacks("warning");
    assert_eq!(
        dumped.stdout(),
        default,
        "config dump of the default differs"
    );
}

/// `crated config dump` shows the effective config: values from files named
/// in `imports` (relative to the importing file) merged in, and flags on
/// top; the daemon runs with the same merged values. Needs root.
#[test]
fn config_dump_merges_imports_and_flags() {
    let mut daemon = Daemon::start();
    let dir = daemon.dir().to_path_buf();
    let conf_d = dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap_or_else(|e| panic!("mkdir: {e}"));
    write(
        &conf_d.join("extra.toml"),
        "version = 3\n[debug]\nlevel = \"debug\"\n[grpc]\nmax_recv_message_size = 1048576\n",
    );
    let main = dir.join("main.toml");
    write(
        &main,
        &format!(
            "version = 3\nimports = [\"conf.d/extra.toml\"]\nroot = {:?}\nstate = {:?}\n[grpc]\naddress = {:?}\n",
            dir.join("r2").display().to_string(),
            dir.join("s2").display().to_string(),
            dir.join("c2.sock").display().to_string(),
        ),
    );
    let main_s = main.to_str().unwrap_or_default();
    let out = crated(&["-c", main_s, "config", "dump"]).run().ok();
    let dump = out.stdout();
    assert_eq!(
        toml_value(&dump, "debug", "level").as_deref(),
        Some("\"debug\""),
        "{out}"
    );
    assert_eq!(
        toml_value(&dump, "grpc", "max_recv_message_size").as_deref(),
        Some("1048576"),
        "{out}"
    );
    assert_eq!(
        toml_value(&dump, "grpc", "address"),
        Some(format!("{:?}", dir.join("c2.sock").display().to_string())),
        "{out}"
    );
    // Run from elsewhere: imports resolve against the config's directory.
    let out = Cmd::new(crated_bin())
        .args([
            "-c",
            main_s,
            "--root",
            "/tmp/flag-root",
            "-l",
            "warn",
            "config",
            "dump",
        ])
        .run()
        .ok();
    let dump = out.stdout();
    assert_eq!(
        toml_value(&dump, "", "root").as_deref(),
        Some("\"/tmp/flag-root\""),
        "{out}"
    );
    assert_eq!(
        toml_value(&dump, "debug", "level").as_deref(),
        Some("\"warn\""),
        "{out}"
    );

    // The first daemon is unaffected by all this.
    let data = test_bytes(1000, 5);
    let digest = daemon.ingest("default", "r", &data);
    daemon.assert_intact("default", &digest, &data);
}

/// The command-line flags override the config file for a running daemon:
/// `--address` moves the socket. Needs root.
#[test]
fn flags_override_the_config_file() {
    let daemon = Daemon::start();
    let other = daemon.dir().join("flag.sock");
    let bg = Cmd::new(crated_bin())
        .env("NO_COLOR", "1")
        .args(["-c", daemon.config_path().to_str().unwrap_or_default()])
        .args([
            "--root",
            daemon.dir().join("root2").to_str().unwrap_or_default(),
        ])
        .args([
            "--state",
            daemon.dir().join("state2").to_str().unwrap_or_default(),
        ])
        .args(["--address", other.to_str().unwrap_or_default()])
        .spawn();
    let up = crated_e2e::wait_until(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&other).is_ok()
    });
    assert!(
        up,
        "daemon on {} never came up: {}",
        other.display(),
        bg.stderr()
    );
    Cmd::new(crated_e2e::ctr_bin())
        .args([
            "-a",
            other.to_str().unwrap_or_default(),
            "plugins",
            "ls",
            "-d",
            "id==content",
        ])
        .run()
        .ok()
        .stdout_has(&daemon.dir().join("root2").display().to_string());
    bg.signal(nix::sys::signal::Signal::SIGTERM);
    let out = bg.wait(Duration::from_secs(10));
    assert!(out.succeeded(), "{out}");
}
