//! A real Go client: a program on containerd 1.6's own client library
//! (Debian's `golang-github-containerd-containerd-dev`, built with Debian's
//! `golang-go`; both installed by `scripts/install-deps.sh`) connects with
//! a default namespace nobody created, labels a namespace that does not
//! exist, reads a namespace that does not exist, and creates a lease in a
//! fresh one, as Go programs (dockerd among them) do first.
//!
//! **Needs root** (every test starts a daemon; see `crated_e2e::Daemon`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_e2e::{Cmd, Daemon};

/// Builds `go_client/main.go` into `dir` in GOPATH mode over Debian's Go
/// packages.
fn build_go_client(dir: &Path) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/go_client/main.go");
    let binary = dir.join("go_client");
    Cmd::new("/usr/bin/go")
        .args([
            "build".as_ref(),
            "-o".as_ref(),
            binary.as_os_str(),
            source.as_os_str(),
        ])
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOFLAGS", "")
        .timeout(Duration::from_secs(600))
        .run()
        .ok();
    binary
}

/// The Go client's first calls succeed on a daemon with no namespace:
/// `containerd.New` with a default namespace, Version, Server,
/// `NamespaceService().SetLabel` on a new namespace, Labels of a missing
/// one, List; Containers, ListImages, snapshot Walk, content ListStatuses
/// and Walk in a namespace that does not exist; a lease in a fresh one;
/// a blob (written twice), an image and a container in a namespace nobody
/// created, labelled through field paths; the namespace refused deletion
/// (FailedPrecondition) while it holds them, deleted once emptied.
/// Needs root.
#[test]
fn go_client_first_calls() {
    let build = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let client = build_go_client(build.path());
    let daemon = Daemon::start();
    let got = Cmd::new(&client)
        .args([daemon.socket()])
        .timeout(Duration::from_secs(120))
        .run()
        .ok()
        .json();
    assert_eq!(got["version"], env!("CARGO_PKG_VERSION"), "{got}");
    assert!(
        !got["server_uuid"].as_str().unwrap_or("").is_empty(),
        "{got}"
    );
    assert_eq!(got["labelled_labels"]["go.test/label"], "yes", "{got}");
    // No labels: the Go client decodes an empty map as nil.
    let missing = &got["missing_labels"];
    assert!(
        missing.is_null() || missing.as_object().is_some_and(|m| m.is_empty()),
        "{got}"
    );
    let names = got["namespaces"].to_string();
    assert!(names.contains("\"go-labelled\""), "{got}");
    assert!(
        !names.contains("go-missing") && !names.contains("go-default"),
        "{got}"
    );
    for key in ["containers", "images", "snapshots", "statuses"] {
        assert_eq!(got[key], 0, "{key}: {got}");
    }
    assert_eq!(got["leases"], 1, "{got}");
    assert!(daemon.namespaces().contains(&"go-leased".to_string()));
    let writes = &got["writes"];
    assert_eq!(writes["content_labels"]["go.test/c"], "1", "{got}");
    assert_eq!(writes["image_labels"]["go.test/i"], "1", "{got}");
    assert_eq!(writes["container_labels"]["go.test/k"], "v", "{got}");
    assert_eq!(writes["delete_refused"], true, "{got}");
    assert_eq!(writes["deleted_after"], true, "{got}");
    assert!(!daemon.namespaces().contains(&"go-writes".to_string()));
}
