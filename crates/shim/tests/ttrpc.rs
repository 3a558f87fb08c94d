//! The shim driven directly over ttrpc, the way a daemon does, without
//! containerd: `start`, every task RPC (including Update, Checkpoint and
//! Connect, which `ctr` cannot reach), both task API names, containerd's
//! error codes, the events the shim forwards to `TTRPC_ADDRESS` (a fake
//! events service here), `Shutdown`, and the `delete` action.
//!
//! **Needs root** (runc, bind mounts, cgroups) and Debian's `runc` and
//! `busybox-static`. Run serially: `cargo test -p crated-shim -- --test-threads=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use crated_api::ttrpc::api::*;
use crated_api::ttrpc::protobuf::well_known_types::any::Any;
use crated_api::ttrpc::protobuf::{Message, MessageField};
use crated_api::ttrpc::shim_async::{Client, Events, TaskClient, create_events};
use crated_api::ttrpc::ttrpc::r#async::{Server, TtrpcContext};
use crated_api::ttrpc::ttrpc::{self, Code, context};

const NS: &str = "shimdirect";

/// Records the events the shim forwards.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, String, String)>>>);

#[async_trait]
impl Events for Recorder {
    async fn forward(&self, ctx: &TtrpcContext, req: ForwardRequest) -> ttrpc::Result<Empty> {
        let e = req.envelope.unwrap_or_default();
        let header = ctx
            .metadata
            .get("containerd-namespace-ttrpc")
            .and_then(|v| v.first().cloned())
            .unwrap_or_default();
        self.0.lock().unwrap().push((e.namespace, e.topic, header));
        Ok(Empty::new())
    }
}

impl Recorder {
    fn topics(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t, _)| t.clone())
            .collect()
    }
}

fn ctx() -> context::Context {
    context::with_duration(Duration::from_secs(30))
}

fn code<T: std::fmt::Debug>(r: ttrpc::Result<T>) -> (Code, String) {
    match r {
        Err(ttrpc::Error::RpcStatus(s)) => (s.code(), s.message().to_string()),
        other => panic!("expected a status error, got {other:?}"),
    }
}

fn any(type_url: &str, value: &[u8]) -> MessageField<Any> {
    let mut a = Any::new();
    a.type_url = type_url.to_string();
    a.value = value.to_vec();
    MessageField::some(a)
}

fn busybox(dir: &Path) -> PathBuf {
    let rootfs = dir.join("busybox");
    crated_testkit::workload::build_rootfs(&rootfs);
    rootfs
}

fn spec(id: &str) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "echo started; exec sleep 1000"],
            "env": ["PATH=/bin"],
            "cwd": "/"
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "direct",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755", "size=1m"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
            "cgroupsPath": format!("/{NS}/{id}")
        }
    })
}

/// Removes what a failed run leaves: the runtime's container, the rootfs
/// mount, the shim.
struct Cleanup {
    id: String,
    bundle: PathBuf,
    shim_pid: Option<u32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(runc_root(&self.bundle))
            .args(["delete", "--force", &self.id])
            .output();
        let _ = rustix::mount::unmount(
            self.bundle.join("rootfs"),
            rustix::mount::UnmountFlags::DETACH,
        );
        if let Some(pid) = self
            .shim_pid
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("containerd-shim-crated-v1") {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in ctrls.flatten() {
                let _ = std::fs::remove_dir(c.path().join(NS).join(&self.id));
                let _ = std::fs::remove_dir(c.path().join(NS));
            }
        }
        let _ = std::fs::remove_dir(runc_root(&self.bundle));
    }
}

/// Where the shim keeps runc's state for a bundle outside a daemon's state
/// layout: `.runc/<namespace>` beside the bundle, never containerd's
/// `/run/containerd/runc`.
fn runc_root(bundle: &Path) -> PathBuf {
    bundle
        .parent()
        .expect("the bundle has a parent")
        .join(".runc")
        .join(NS)
}

/// Runs `start` in `bundle`; returns the address and the server's pid.
fn start_shim(bundle: &Path, args: &[&str], ttrpc_address: &Path) -> (String, u32) {
    let shim = env!("CARGO_BIN_EXE_containerd-shim-crated-v1");
    let out = Command::new(shim)
        .args(args)
        .arg("start")
        .current_dir(bundle)
        .env("TTRPC_ADDRESS", ttrpc_address)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "start: {out:?}");
    let address = String::from_utf8(out.stdout).unwrap();
    assert!(
        address.starts_with("unix:///run/containerd/s/"),
        "bare address: {address:?}"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("address")).unwrap(),
        address
    );
    let pid = std::fs::read_to_string(bundle.join("shim.pid"))
        .unwrap()
        .parse()
        .unwrap();
    (address, pid)
}

/// Waits until `pid` has exited.
async fn wait_gone(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "shim {pid} did not exit after Shutdown"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

#[test]
#[ignore = "requires root"]
fn every_task_rpc_directly_over_ttrpc() {
    crated_testkit::root::require_root("runs runc and mounts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), scenario())
            .await
            .expect("the scenario did not finish in time");
    });
}

async fn scenario() {
    let dir = tempfile::Builder::new()
        .prefix("crated-shim-direct-")
        .tempdir_in("/tmp")
        .unwrap();
    let id = format!("direct-{}", std::process::id());
    let bundle = dir.path().join(&id);
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), spec(&id).to_string()).unwrap();
    let lower = busybox(dir.path());
    let out_file = dir.path().join("stdout.txt");
    std::fs::write(&out_file, "").unwrap();

    // A fake daemon events service at TTRPC_ADDRESS.
    let events_sock = dir.path().join("events.sock");
    let recorder = Recorder::default();
    let mut events = Server::new()
        .bind(&format!("unix://{}", events_sock.display()))
        .unwrap()
        .register_service(create_events(Arc::new(recorder.clone())));
    events.start().await.unwrap();

    let shim = env!("CARGO_BIN_EXE_containerd-shim-crated-v1");
    let fake_grpc = dir.path().join("containerd.sock");
    let args = [
        "-namespace",
        NS,
        "-id",
        &id,
        "-address",
        fake_grpc.to_str().unwrap(),
    ];
    let (address, shim_pid) = start_shim(&bundle, &args, &events_sock);
    let _cleanup = Cleanup {
        id: id.clone(),
        bundle: bundle.clone(),
        shim_pid: Some(shim_pid),
    };

    // A second start for the same group shares the running shim.
    let again = Command::new(shim)
        .args(args)
        .arg("start")
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), address);

    let client = Client::connect(&address).await.unwrap();
    let task = TaskClient::new(client.clone());

    // The v2 service name answers too.
    let mut req = ttrpc::Request::new();
    req.service = "containerd.task.v2.Task".into();
    req.method = "Connect".into();
    req.payload = ConnectRequest::new().write_to_bytes().unwrap();
    req.timeout_nano = 10_000_000_000;
    let resp = client.request(req).await.unwrap();
    let connect = ConnectResponse::parse_from_bytes(&resp.payload).unwrap();
    assert_eq!(connect.shim_pid, shim_pid);

    let mut st = StateRequest::new();
    st.id = id.clone();
    assert_eq!(code(task.state(ctx(), &st).await).0, Code::NOT_FOUND);

    let mut create = CreateTaskRequest::new();
    create.id = id.clone();
    create.bundle = bundle.to_str().unwrap().into();
    create.stdout = out_file.to_str().unwrap().into();
    let mut m = Mount::new();
    m.type_ = "bind".into();
    m.source = lower.to_str().unwrap().into();
    m.options = vec!["rbind".into(), "ro".into()];
    create.rootfs = vec![m];
    let pid = task.create(ctx(), &create).await.unwrap().pid;
    assert!(pid > 0);
    assert!(
        mounted(&bundle.join("rootfs")),
        "rootfs not mounted by the shim"
    );
    assert_eq!(
        code(task.create(ctx(), &create).await).0,
        Code::ALREADY_EXISTS
    );
    assert_eq!(
        task.state(ctx(), &st).await.unwrap().status.enum_value(),
        Ok(Status::CREATED)
    );

    let mut start = StartRequest::new();
    start.id = id.clone();
    assert_eq!(task.start(ctx(), &start).await.unwrap().pid, pid);
    assert_eq!(
        code(task.start(ctx(), &start).await).0,
        Code::FAILED_PRECONDITION
    );
    let state = task.state(ctx(), &st).await.unwrap();
    assert_eq!(
        (state.status.enum_value(), state.pid),
        (Ok(Status::RUNNING), pid)
    );

    let mut connect = ConnectRequest::new();
    connect.id = id.clone();
    let c = task.connect(ctx(), &connect).await.unwrap();
    assert_eq!((c.shim_pid, c.task_pid), (shim_pid, pid));

    // Exec, with its own output file.
    let exec_out = dir.path().join("exec.txt");
    std::fs::write(&exec_out, "").unwrap();
    let mut exec = ExecProcessRequest::new();
    exec.id = id.clone();
    exec.exec_id = "e1".into();
    exec.stdout = exec_out.to_str().unwrap().into();
    assert_eq!(
        code(task.exec(ctx(), &exec).await).0,
        Code::INVALID_ARGUMENT
    );
    let process = serde_json::json!({"args": ["/bin/sh", "-c", "echo exec-out; exit 6"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
    exec.spec = any(
        "types.containerd.io/opencontainers/runtime-spec/1/Process",
        process.to_string().as_bytes(),
    );
    task.exec(ctx(), &exec).await.unwrap();
    assert_eq!(code(task.exec(ctx(), &exec).await).0, Code::ALREADY_EXISTS);
    let mut start_exec = StartRequest::new();
    start_exec.id = id.clone();
    start_exec.exec_id = "e1".into();
    task.start(ctx(), &start_exec).await.unwrap();
    let mut wait_exec = WaitRequest::new();
    wait_exec.id = id.clone();
    wait_exec.exec_id = "e1".into();
    assert_eq!(task.wait(ctx(), &wait_exec).await.unwrap().exit_status, 6);
    let mut del_exec = DeleteRequest::new();
    del_exec.id = id.clone();
    del_exec.exec_id = "e1".into();
    assert_eq!(task.delete(ctx(), &del_exec).await.unwrap().exit_status, 6);
    assert_eq!(std::fs::read_to_string(&exec_out).unwrap(), "exec-out\n");

    // An exec reading its stdin FIFO, whose CloseIO arrives while its Start
    // is still running: the close is kept, so `cat` sees end-of-file.
    let stdin_fifo = dir.path().join("e2-stdin");
    let made = Command::new("mkfifo").arg(&stdin_fifo).status().unwrap();
    assert!(made.success(), "mkfifo {}", stdin_fifo.display());
    let mut exec = ExecProcessRequest::new();
    exec.id = id.clone();
    exec.exec_id = "e2".into();
    exec.stdin = stdin_fifo.to_str().unwrap().into();
    exec.stdout = exec_out.to_str().unwrap().into();
    let process = serde_json::json!({"args": ["/bin/cat"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
    exec.spec = any(
        "types.containerd.io/opencontainers/runtime-spec/1/Process",
        process.to_string().as_bytes(),
    );
    task.exec(ctx(), &exec).await.unwrap();
    let mut start_e2 = StartRequest::new();
    start_e2.id = id.clone();
    start_e2.exec_id = "e2".into();
    let mut close_e2 = CloseIORequest::new();
    close_e2.id = id.clone();
    close_e2.exec_id = "e2".into();
    close_e2.stdin = true;
    let (started, closed) = tokio::join!(
        task.start(ctx(), &start_e2),
        task.close_io(ctx(), &close_e2)
    );
    started.unwrap();
    closed.unwrap();
    let mut wait_e2 = WaitRequest::new();
    wait_e2.id = id.clone();
    wait_e2.exec_id = "e2".into();
    let waited = tokio::time::timeout(Duration::from_secs(20), task.wait(ctx(), &wait_e2))
        .await
        .expect("cat never saw end-of-file: the CloseIO sent during Start was lost");
    assert_eq!(waited.unwrap().exit_status, 0);
    let mut del_e2 = DeleteRequest::new();
    del_e2.id = id.clone();
    del_e2.exec_id = "e2".into();
    task.delete(ctx(), &del_e2).await.unwrap();

    let mut pids = PidsRequest::new();
    pids.id = id.clone();
    let ps = task.pids(ctx(), &pids).await.unwrap();
    assert!(ps.processes.iter().any(|p| p.pid == pid), "{ps:?}");

    let mut stats = StatsRequest::new();
    stats.id = id.clone();
    let s = task.stats(ctx(), &stats).await.unwrap();
    assert!(
        s.stats.type_url.starts_with("io.containerd.cgroups.v"),
        "{}",
        s.stats.type_url
    );

    let mut update = UpdateTaskRequest::new();
    update.id = id.clone();
    update.resources = any(
        "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        br#"{"pids":{"limit":123}}"#,
    );
    task.update(ctx(), &update).await.unwrap();
    let pids_max = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        .iter()
        .map(|root| Path::new(root).join(NS).join(&id).join("pids.max"))
        .find_map(|p| std::fs::read_to_string(p).ok());
    assert_eq!(pids_max.as_deref().map(str::trim), Some("123"));

    let mut pause = PauseRequest::new();
    pause.id = id.clone();
    task.pause(ctx(), &pause).await.unwrap();
    assert_eq!(
        task.state(ctx(), &st).await.unwrap().status.enum_value(),
        Ok(Status::PAUSED)
    );
    assert_eq!(
        code(task.pause(ctx(), &pause).await).0,
        Code::FAILED_PRECONDITION
    );
    let mut resume = ResumeRequest::new();
    resume.id = id.clone();
    task.resume(ctx(), &resume).await.unwrap();

    // criu may or may not work here; a failure must be an error naming the
    // dump log, not a hang or a crash.
    let mut cp = CheckpointTaskRequest::new();
    cp.id = id.clone();
    cp.path = dir.path().join("checkpoint").to_str().unwrap().into();
    match task.checkpoint(ctx(), &cp).await {
        Ok(_) => eprintln!("checkpoint: written to {}", cp.path),
        Err(e) => {
            eprintln!("checkpoint failed (criu): {e:?}");
            assert!(format!("{e:?}").contains("criu-dump.log"), "{e:?}");
        }
    }
    // The task still runs (leave-running is the default).
    assert_eq!(
        task.state(ctx(), &st).await.unwrap().status.enum_value(),
        Ok(Status::RUNNING)
    );

    let mut del = DeleteRequest::new();
    del.id = id.clone();
    assert_eq!(
        code(task.delete(ctx(), &del).await).0,
        Code::FAILED_PRECONDITION
    );
    let mut kill = KillRequest::new();
    kill.id = id.clone();
    kill.signal = 9;
    kill.all = true;
    task.kill(ctx(), &kill).await.unwrap();
    let mut wait = WaitRequest::new();
    wait.id = id.clone();
    let w = task.wait(ctx(), &wait).await.unwrap();
    assert_eq!(w.exit_status, 137);
    assert!(w.exited_at.is_some());
    kill.all = false;
    assert_eq!(code(task.kill(ctx(), &kill).await).0, Code::NOT_FOUND);
    let d = task.delete(ctx(), &del).await.unwrap();
    assert_eq!((d.pid, d.exit_status), (pid, 137));
    assert!(
        !mounted(&bundle.join("rootfs")),
        "rootfs still mounted after Delete"
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "started\n");

    task.shutdown(ctx(), &ShutdownRequest::new()).await.ok();
    wait_gone(shim_pid).await;
    assert!(
        !Path::new(address.trim_start_matches("unix://")).exists(),
        "socket left behind"
    );

    let topics = recorder.topics();
    for t in [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/exit",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/delete",
    ] {
        assert!(topics.iter().any(|x| x == t), "no {t} in {topics:?}");
    }
    let start_at = topics.iter().position(|t| t == "/tasks/start").unwrap();
    let exit_at = topics.iter().rposition(|t| t == "/tasks/exit").unwrap();
    assert!(start_at < exit_at, "exit before start: {topics:?}");
    assert!(
        recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|(ns, _, h)| ns == NS && h == NS)
    );

    // `delete` after the fact: a DeleteResponse saying "killed".
    let out = Command::new(shim)
        .args([
            "-namespace",
            NS,
            "-id",
            &id,
            "-bundle",
            bundle.to_str().unwrap(),
            "delete",
        ])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "delete: {out:?}");
    let resp = DeleteResponse::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!((resp.pid, resp.exit_status), (pid, 137));
    assert!(resp.exited_at.is_some());

    events.shutdown().await.ok();
}

#[test]
#[ignore = "requires root"]
fn events_fall_back_to_the_publish_binary() {
    crated_testkit::root::require_root("runs runc");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), fallback_scenario())
            .await
            .expect("the scenario did not finish in time");
    });
}

async fn fallback_scenario() {
    let dir = tempfile::Builder::new()
        .prefix("crated-shim-publish-")
        .tempdir_in("/tmp")
        .unwrap();
    let id = format!("publish-{}", std::process::id());
    let bundle = dir.path().join(&id);
    std::fs::create_dir(&bundle).unwrap();
    let mut config = spec(&id);
    config["root"]["path"] = busybox(dir.path()).to_str().unwrap().into();
    std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
    // containerd's `publish` command line, recorded with the payload size.
    let published = dir.path().join("published");
    let publisher = dir.path().join("publish.sh");
    std::fs::write(
        &publisher,
        format!(
            "#!/bin/sh\necho \"$* $(wc -c)\" >>{}\n",
            published.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &publisher,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();

    let grpc = dir.path().join("containerd.sock");
    let args = [
        "-namespace",
        NS,
        "-id",
        &id,
        "-address",
        grpc.to_str().unwrap(),
        "-publish-binary",
        publisher.to_str().unwrap(),
    ];
    // No daemon listens at TTRPC_ADDRESS.
    let (address, shim_pid) = start_shim(&bundle, &args, &dir.path().join("nobody.sock"));
    let _cleanup = Cleanup {
        id: id.clone(),
        bundle: bundle.clone(),
        shim_pid: Some(shim_pid),
    };
    let task = TaskClient::new(Client::connect(&address).await.unwrap());
    let mut create = CreateTaskRequest::new();
    create.id = id.clone();
    create.bundle = bundle.to_str().unwrap().into();
    task.create(ctx(), &create).await.unwrap();
    let mut start = StartRequest::new();
    start.id = id.clone();
    task.start(ctx(), &start).await.unwrap();
    let mut kill = KillRequest::new();
    kill.id = id.clone();
    kill.signal = 9;
    task.kill(ctx(), &kill).await.unwrap();
    let mut wait = WaitRequest::new();
    wait.id = id.clone();
    task.wait(ctx(), &wait).await.unwrap();
    let mut del = DeleteRequest::new();
    del.id = id.clone();
    task.delete(ctx(), &del).await.unwrap();
    task.shutdown(ctx(), &ShutdownRequest::new()).await.ok();
    wait_gone(shim_pid).await;

    let lines = std::fs::read_to_string(&published).unwrap_or_default();
    for topic in [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
    ] {
        let want = format!(
            "--address {} publish --topic {topic} --namespace {NS} ",
            grpc.display()
        );
        let line = lines.lines().find(|l| l.starts_with(&want));
        let size: usize = line
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        assert!(size > 0, "no {topic} published with a payload:\n{lines}");
    }
}
