//! Bad input: each gives containerd's error class and a clear message, the
//! daemon keeps serving, and nothing committed is lost.

use std::time::Duration;

use crated_e2e::{Daemon, test_bytes};

/// A daemon with one committed blob in namespace `keep`.
fn daemon_with_content() -> (Daemon, String, Vec<u8>) {
    let daemon = Daemon::start();
    let data = test_bytes(10_000, 42);
    let digest = daemon.ingest("keep", "kept", &data);
    (daemon, digest, data)
}

/// Invalid namespace names are InvalidArgument whatever the request.
/// Needs root.
#[test]
fn invalid_namespace_names_are_invalid_argument() {
    let (mut daemon, digest, data) = daemon_with_content();
    for ns in [
        "bad/ns",
        "-leading-dash",
        "UPPER_under_score!",
        &"x".repeat(80),
    ] {
        daemon
            .ctr(&["-n", ns, "content", "ls"])
            .fails()
            .stderr_has("invalid argument");
        daemon.assert_intact("keep", &digest, &data);
    }
    daemon
        .ctr(&["namespaces", "create", "bad/ns"])
        .fails()
        .stderr_has("invalid argument");
    daemon
        .ctr(&["-n", "bad/ns", "leases", "create", "--id", "x"])
        .fails()
        .stderr_has("invalid argument");
    assert!(!daemon.namespaces().iter().any(|n| n == "bad/ns"));
    daemon.assert_intact("keep", &digest, &data);
}

/// Requests without a required id are refused, by ctr or by the daemon,
/// and change nothing. (Lease ids and ingest refs are otherwise free-form
/// keys, as in containerd.) Needs root.
#[test]
fn missing_ids_are_refused() {
    let (mut daemon, digest, data) = daemon_with_content();
    daemon
        .ctr_stdin(&["-n", "keep", "content", "ingest", ""], b"x".as_slice())
        .fails()
        .stderr_has("must specify a transaction reference");
    daemon.ctr(&["namespaces", "create", ""]).fails();
    daemon.ctr(&["-n", "keep", "content", "label", ""]).fails();
    daemon.assert_intact("keep", &digest, &data);
    assert!(daemon.active_ingests("keep").is_empty());
}

/// A malformed filter is InvalidArgument with the position of the error, for
/// every list that takes filters. Needs root.
#[test]
fn malformed_filters_report_the_position() {
    let (mut daemon, digest, data) = daemon_with_content();
    let cases: [&[&str]; 5] = [
        &["-n", "keep", "content", "ls", "labels.foo=="],
        &["-n", "keep", "content", "ls", "labels.\"unterminated"],
        &["-n", "keep", "content", "ls", "id~=[unclosed"],
        &["-n", "keep", "leases", "ls", "id=="],
        &["plugins", "ls", "type==,"],
    ];
    for args in cases {
        let out = daemon.ctr(args).fails();
        out.stderr_has("invalid argument");
        assert!(
            out.stderr.contains("at byte") || out.stderr.contains("position"),
            "no position in the error: {out}"
        );
        daemon.assert_intact("keep", &digest, &data);
    }
    daemon
        .ctr(&["-n", "keep", "content", "ls", "labels.foo=="])
        .fails()
        .stderr_has("parse error");
}

/// Wrong digests: malformed ones are refused, well-formed unknown ones are
/// NotFound, and an expected digest that is not a digest fails the commit.
/// Needs root.
#[test]
fn wrong_digests_are_refused() {
    let (mut daemon, digest, data) = daemon_with_content();
    // Rejected by ctr's own digest parsing.
    daemon
        .ctr(&["-n", "keep", "content", "get", "sha256:xyz"])
        .fails()
        .stderr_has("invalid");
    // Well-formed but absent.
    let absent = format!("sha256:{}", "0".repeat(64));
    daemon
        .ctr(&["-n", "keep", "content", "get", &absent])
        .fails()
        .stderr_has("not found");
    // ctr ignores NotFound on rm: it prints nothing and exits 0.
    daemon
        .ctr(&["-n", "keep", "content", "rm", &absent])
        .ok()
        .stdout_lacks(&absent);
    daemon
        .ctr(&["-n", "keep", "content", "label", &absent, "a=b"])
        .fails()
        .stderr_has("not found");
    // A commit expecting a malformed digest reaches the daemon.
    daemon
        .ctr_stdin(
            &[
                "-n",
                "keep",
                "content",
                "ingest",
                "--expected-digest",
                "sha256:xyz",
                "bad-expect",
            ],
            b"data\n".as_slice(),
        )
        .fails();
    daemon.assert_intact("keep", &digest, &data);
    assert_eq!(daemon.content_digests("keep"), [digest]);
}

/// ctr pointed at a socket nobody listens on fails with an error naming
/// the address, within its connect timeout. Needs root (for symmetry; it
/// starts no daemon but shares the harness).
#[test]
fn unreachable_socket_fails_clearly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("nobody.sock");
    let out = crated_e2e::Cmd::new(crated_e2e::ctr_bin())
        .args(["--connect-timeout", "2s", "-a"])
        .args([&sock])
        .args(["version"])
        .timeout(Duration::from_secs(20))
        .run()
        .fails();
    out.stderr_has("failed to dial")
        .stderr_has(&sock.display().to_string());

    // A stale socket file (a crated that died) is refused quickly too.
    let listener = std::os::unix::net::UnixListener::bind(&sock)
        .unwrap_or_else(|e| panic!("bind {}: {e}", sock.display()));
    drop(listener);
    crated_e2e::Cmd::new(crated_e2e::ctr_bin())
        .args(["--connect-timeout", "2s", "-a"])
        .args([&sock])
        .args(["namespaces", "ls"])
        .timeout(Duration::from_secs(20))
        .run()
        .fails()
        .stderr_has("failed to dial");
}
