//! The Prometheus endpoint end to end: a daemon with `[metrics] address`
//! runs containers; a real HTTP client (hyper) scrapes `GET /v1/metrics`
//! and a real text-format parser (`prometheus-parse`) reads it: the task
//! metrics carry the container's id and namespace and move, the gRPC
//! counters count the calls made (a failing one under its code), the
//! handling-time histogram is there only with `grpc_histogram`, and
//! `no_prometheus` leaves the task metrics out.
//!
//! **Needs root** (every test starts a daemon and runs containers).

use std::time::Duration;

use crated_e2e::workload::{BusyboxRootfs, Cleanup, ctr_run_sleeper, expect_shim_pid};
use crated_e2e::{Daemon, wait_until};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

const NS: &str = "default";

/// A TCP port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("binding a free port: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("local address: {e}"))
        .port()
}

/// A daemon serving metrics on a free loopback port, with `extra` config.
fn daemon(extra: &str) -> (Daemon, u16) {
    let port = free_port();
    let daemon = Daemon::builder()
        .clean_up_containers()
        .config_tail(&format!(
            "[metrics]\naddress = \"127.0.0.1:{port}\"\n{extra}"
        ))
        .start();
    (daemon, port)
}

/// `GET <path>` on the endpoint: status, content type, body.
fn get(port: u16, path: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"));
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connecting to the metrics endpoint on {port}: {e}"));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("HTTP/1 handshake: {e}"));
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", format!("127.0.0.1:{port}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap_or_else(|e| panic!("request: {e}"));
        let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
            .await
            .unwrap_or_else(|e| panic!("scrape within 30 s: {e}"))
            .unwrap_or_else(|e| panic!("scrape answered: {e}"));
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("body: {e}"))
            .to_bytes();
        (status, kind, String::from_utf8_lossy(&body).into_owned())
    })
}

/// One scrape, parsed.
struct Scrape {
    text: String,
    parsed: prometheus_parse::Scrape,
}

impl Scrape {
    fn take(port: u16) -> Scrape {
        let (status, kind, text) = get(port, "/v1/metrics");
        assert_eq!(status, 200, "{text}");
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("the exposition parses: {e}"));
        Scrape { text, parsed }
    }

    /// The value of sample `name` with all of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.parsed
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    }

    /// The value, or 0 when the sample is absent (a counter not yet used).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    fn has_family(&self, prefix: &str) -> bool {
        self.parsed
            .samples
            .iter()
            .any(|s| s.metric.starts_with(prefix))
    }
}

/// The memory usage and CPU time metric names of this host's cgroup version.
fn usage_names() -> (&'static str, &'static str) {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        (
            "container_memory_usage_bytes",
            "container_cpu_usage_usec_microseconds",
        )
    } else {
        (
            "container_memory_usage_usage_bytes",
            "container_cpu_total_nanoseconds",
        )
    }
}

const VERSION: [(&str, &str); 4] = [
    ("grpc_service", "containerd.services.version.v1.Version"),
    ("grpc_method", "Version"),
    ("grpc_type", "unary"),
    ("grpc_code", "OK"),
];
const GET_MISSING: [(&str, &str); 3] = [
    (
        "grpc_service",
        "containerd.services.containers.v1.Containers",
    ),
    ("grpc_method", "Get"),
    ("grpc_code", "NotFound"),
];

#[test]
fn task_and_grpc_metrics_move_with_what_runs() {
    let (daemon, port) = daemon("grpc_histogram = true");
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let id = "metrics-busy";
    cleanup.add(id);
    daemon
        .ctr_cmd(&[
            "run",
            "-d",
            "--rootfs",
            &rootfs.arg(),
            id,
            "/bin/sh",
            "-c",
            "while :; do :; done",
        ])
        .timeout(Duration::from_secs(120))
        .run()
        .ok();
    cleanup.shim(expect_shim_pid(&daemon, NS, id));

    let (memory, cpu) = usage_names();
    let task = [("container_id", id), ("namespace", NS)];
    let first = Scrape::take(port);
    let used = first
        .value(memory, &task)
        .unwrap_or_else(|| panic!("no {memory} for {id} in {NS}:\n{}", first.text));
    assert!(used > 0.0, "{memory} is {used}");
    assert!(first.value("container_pids_current", &task).unwrap_or(0.0) >= 1.0);
    let cpu_first = first
        .value(cpu, &task)
        .unwrap_or_else(|| panic!("no {cpu} for {id}:\n{}", first.text));
    assert!(
        wait_until(Duration::from_secs(20), || {
            Scrape::take(port).value(cpu, &task).unwrap_or(0.0) > cpu_first
        }),
        "{cpu} of a busy container did not grow past {cpu_first}"
    );
    assert_eq!(first.value("crated_shims_running", &[]), Some(1.0));
    assert!(
        first
            .value("process_resident_memory_bytes", &[])
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(
        first
            .value("crated_snapshots", &[("kind", "committed")])
            .is_some()
    );

    // gRPC counters grow with the calls made, a failing call under its code.
    let before = Scrape::take(port);
    daemon.ctr(&["version"]).ok();
    daemon.ctr(&["version"]).ok();
    let missing = daemon.ctr(&["containers", "info", "metrics-no-such-container"]);
    assert!(!missing.status.success(), "{missing}");
    let after = Scrape::take(port);
    assert_eq!(
        after.count("grpc_server_handled_total", &VERSION)
            - before.count("grpc_server_handled_total", &VERSION),
        2.0,
        "{}",
        after.text
    );
    assert_eq!(
        after.count("grpc_server_handled_total", &GET_MISSING)
            - before.count("grpc_server_handled_total", &GET_MISSING),
        1.0,
        "{}",
        after.text
    );
    let started = &VERSION[..3];
    assert!(
        after.count("grpc_server_started_total", started)
            >= before.count("grpc_server_started_total", started) + 2.0
    );
    assert!(after.count("grpc_server_msg_received_total", started) >= 2.0);
    assert!(after.count("grpc_server_msg_sent_total", started) >= 2.0);
    assert!(
        after.has_family("grpc_server_handling_seconds"),
        "grpc_histogram = true but no histogram:\n{}",
        after.text
    );

    // Once the task is gone, so are its metrics.
    daemon.ctr(&["tasks", "kill", "-s", "KILL", id]).ok();
    assert!(wait_until(Duration::from_secs(20), || {
        daemon.ctr(&["tasks", "rm", id]).status.success()
    }));
    let gone = Scrape::take(port);
    assert_eq!(gone.value(memory, &task), None, "{}", gone.text);
    assert_eq!(gone.value("crated_shims_running", &[]), Some(0.0));

    // Only the metrics path is served.
    assert_eq!(get(port, "/metrics").0, 404);
}

#[test]
fn no_histogram_by_default_and_no_prometheus_hides_tasks() {
    let (daemon, port) =
        daemon("[plugins.\"io.containerd.monitor.v1.cgroups\"]\nno_prometheus = true");
    assert!(
        !daemon.log().contains("[metrics] address is set but"),
        "the metrics keys are acted on, not inert:\n{}",
        daemon.log()
    );
    let rootfs = BusyboxRootfs::new();
    let mut cleanup = Cleanup::new(&daemon, NS);
    let id = "metrics-hidden";
    cleanup.add(id);
    ctr_run_sleeper(&daemon, &rootfs, id, &[]).run().ok();
    cleanup.shim(expect_shim_pid(&daemon, NS, id));
    daemon.ctr(&["version"]).ok();
    let s = Scrape::take(port);
    assert!(
        !s.has_family("container_"),
        "no_prometheus but:\n{}",
        s.text
    );
    assert_eq!(s.value("crated_shims_running", &[]), Some(1.0));
    assert!(
        s.count("grpc_server_handled_total", &VERSION) >= 1.0,
        "{}",
        s.text
    );
    assert!(
        !s.has_family("grpc_server_handling_seconds"),
        "histogram without grpc_histogram:\n{}",
        s.text
    );
}
