//! `cratectl tasks`.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use crated_client::Client;
use crated_client::api::ttrpc::protobuf::{self, MessageDyn};
use crated_client::cio::{FifoSet, Io, Streams};
use crated_client::container::{
    STOP_SIGNAL_LABEL, exec_process, mount_layers, user_db_from_layers,
};
use crated_client::runtime_options::process_details;
use crated_client::spec::{UserDb, process_to_any, replace_or_append_env};
use crated_client::tasks::{CgroupMetrics, Metric, Status};
use serde::Serialize;
use serde_json::Value;

use super::process::{Foreground, ProcessIo, StdinMode, Terminal, fifo_io};
use super::{Exit, Reported, report};
use crate::args::parse_signal;
use crate::cli::TasksCommand;
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, print, print_json};

/// Runs a `tasks` subcommand.
pub async fn run(ctx: &Context, command: TasksCommand) -> Result<()> {
    let client = ctx.connect().await?;
    match command {
        TasksCommand::Start { detach, io, id } => {
            let container = client.containers().get(&id).await.map_err(|err| {
                hints::not_found(err, &ctx.command_line("containers ls"), "containers")
            })?;
            let tty = super::process::has_terminal(&container);
            let process_io = super::process::new_io(&io, &id, tty, !detach)?;
            let code = super::run::start_task(
                ctx,
                &client,
                &container,
                process_io,
                io.pid_file.as_deref(),
                detach,
                tty,
            )
            .await?;
            exit_with(code)
        }
        TasksCommand::Ls { quiet } => list(ctx, &client, quiet).await,
        TasksCommand::Attach { id } => attach(ctx, &client, &id).await,
        TasksCommand::Exec {
            cwd,
            tty,
            detach,
            exec_id,
            fifo_dir,
            log_uri,
            user,
            env,
            id,
            args,
        } => {
            let options = ExecOptions {
                cwd,
                tty,
                detach,
                exec_id,
                fifo_dir,
                log_uri,
                user,
                env,
                stdin: if detach {
                    StdinMode::Open
                } else {
                    StdinMode::Copy
                },
            };
            exec(ctx, &client, &id, args, options).await
        }
        TasksCommand::Kill {
            signal,
            exec_id,
            all,
            id,
        } => {
            kill(
                ctx,
                &client,
                &id,
                signal.as_deref(),
                exec_id.as_deref(),
                all,
            )
            .await
        }
        TasksCommand::Pause { id } => client
            .tasks()
            .pause(&id)
            .await
            .map_err(|err| hints::task_error(ctx, err, &id)),
        TasksCommand::Resume { id } => client
            .tasks()
            .resume(&id)
            .await
            .map_err(|err| hints::task_error(ctx, err, &id)),
        TasksCommand::Ps { id } => ps(ctx, &client, &id).await,
        TasksCommand::Metrics { id } => metrics(ctx, &client, &id).await,
        TasksCommand::Rm {
            force,
            exec_id,
            ids,
        } => remove(ctx, &client, force, exec_id, &ids).await,
        TasksCommand::Wait { exec_id, id } => {
            let exec_id = exec_id.unwrap_or_default();
            let status = client
                .tasks()
                .wait(&id, &exec_id)
                .await
                .map_err(|err| hints::task_error(ctx, err, &id))?;
            if ctx.json() {
                #[derive(Serialize)]
                struct WaitJson {
                    exit_status: u32,
                    exited_at: Option<String>,
                }
                return print_json(&WaitJson {
                    exit_status: status.code,
                    exited_at: status.exited_at.map(crate::output::json_time),
                });
            }
            print(&format!("{}\n", status.code))
        }
    }
}

/// Ends the command with the process's exit status.
pub fn exit_with(code: u32) -> Result<()> {
    if code != 0 {
        return Err(Exit(code).into());
    }
    Ok(())
}

#[derive(Serialize)]
struct TaskRow<'a> {
    id: &'a str,
    pid: u32,
    status: &'a str,
}

async fn list(ctx: &Context, client: &Client, quiet: bool) -> Result<()> {
    let tasks = client.tasks().list().await?;
    if quiet {
        let ids: String = tasks.iter().map(|t| format!("{}\n", t.id)).collect();
        return print(&ids);
    }
    if ctx.json() {
        let rows: Vec<TaskRow> = tasks
            .iter()
            .map(|t| TaskRow {
                id: &t.id,
                pid: t.pid,
                status: t.status.as_str(),
            })
            .collect();
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(4, 4);
    tw.raw("TASK\tPID\tSTATUS\t\n");
    for t in &tasks {
        tw.raw(&format!("{}\t{}\t{}\n", t.id, t.pid, t.status.as_str()));
    }
    print(&tw.finish())
}

/// Deletes the stopped task of `id` and removes its FIFOs (ctr's
/// `task.Delete` with the task's IO loaded). Returns its exit status.
pub async fn delete_task(client: &Client, id: &str) -> Result<u32> {
    let process = client.tasks().get(id, "").await?;
    match process.status {
        Status::Stopped | Status::Unknown => {}
        Status::Created if process.pid == 0 => {}
        status => bail!(
            "task must be stopped before deletion: {}: failed precondition",
            status.as_str().to_lowercase()
        ),
    }
    let status = client.tasks().delete(id).await?;
    FifoSet::from_process(&process).remove();
    Ok(status.code)
}

/// Kills (with `kill`) and deletes the task of `id`, ignoring a task that
/// is not there; errors are logged.
pub async fn delete_task_quietly(client: &Client, id: &str, kill: bool) {
    let process = match client.tasks().get(id, "").await {
        Ok(process) => process,
        Err(err) if err.is_not_found() => return,
        Err(err) => {
            tracing::warn!(id, error = %err, "task state");
            return;
        }
    };
    if kill && !matches!(process.status, Status::Stopped) {
        let tasks = client.tasks();
        let waiter = {
            let (tasks, id) = (tasks.clone(), id.to_string());
            tokio::spawn(async move { tasks.wait(&id, "").await })
        };
        if tasks.kill(id, "", 9, true).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), waiter).await;
        } else {
            waiter.abort();
        }
    }
    if let Err(err) = client.tasks().delete(id).await
        && !err.is_not_found()
    {
        report(&anyhow::Error::from(err).context(format!("deleting the task of {id}")));
    }
    FifoSet::from_process(&process).remove();
}

async fn remove(
    ctx: &Context,
    client: &Client,
    force: bool,
    exec_id: Option<String>,
    ids: &[String],
) -> Result<()> {
    if let Some(exec_id) = exec_id {
        let Some(id) = ids.first() else {
            bail!("container id must be provided");
        };
        let tasks = client.tasks();
        let process = tasks
            .get(id, &exec_id)
            .await
            .map_err(|err| hints::task_error(ctx, err, id))?;
        if force && process.status != Status::Stopped {
            kill_and_wait(client, id, &exec_id, false).await?;
        }
        let status = tasks.delete_process(id, &exec_id).await?;
        FifoSet::from_process(&process).remove();
        return exit_with(status.code);
    }
    let mut failed = false;
    for id in ids {
        let result = async {
            if force {
                let process = client.tasks().get(id, "").await?;
                if process.status != Status::Stopped {
                    kill_and_wait(client, id, "", true).await?;
                }
            }
            delete_task(client, id).await
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(code) => eprintln!("cratectl: task {id} exited with non-zero exit code {code}"),
            Err(err) => {
                let err = match err.downcast::<crated_client::Error>() {
                    Ok(client_err) => hints::task_error(ctx, client_err, id),
                    Err(err) => err,
                };
                report(&err.context(format!("unable to delete {id}")));
                failed = true;
            }
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

/// SIGKILL and wait for the exit (containerd's `WithProcessKill`).
pub async fn kill_and_wait(client: &Client, id: &str, exec_id: &str, all: bool) -> Result<()> {
    let tasks = client.tasks();
    let waiter = {
        let (tasks, id, exec_id) = (tasks.clone(), id.to_string(), exec_id.to_string());
        tokio::spawn(async move { tasks.wait(&id, &exec_id).await })
    };
    tasks.kill(id, exec_id, 9, all).await?;
    waiter.await.context("waiting for the process")??;
    Ok(())
}

async fn kill(
    ctx: &Context,
    client: &Client,
    id: &str,
    signal: Option<&str>,
    exec_id: Option<&str>,
    all: bool,
) -> Result<()> {
    let container =
        client.containers().get(id).await.map_err(|err| {
            hints::not_found(err, &ctx.command_line("containers ls"), "containers")
        })?;
    let signal = match signal {
        Some(signal) => signal.to_string(),
        None => container
            .labels
            .get(STOP_SIGNAL_LABEL)
            .cloned()
            .unwrap_or_else(|| "SIGTERM".to_string()),
    };
    let number = parse_signal(&signal).map_err(anyhow::Error::msg)?;
    client
        .tasks()
        .kill(id, exec_id.unwrap_or_default(), number, all)
        .await
        .map_err(|err| hints::task_error(ctx, err, id))
}

async fn ps(ctx: &Context, client: &Client, id: &str) -> Result<()> {
    let processes = client
        .tasks()
        .pids(id)
        .await
        .map_err(|err| hints::task_error(ctx, err, id))?;
    if ctx.json() {
        #[derive(Serialize)]
        struct PsRow {
            pid: u32,
            exec_id: Option<String>,
        }
        let rows: Vec<PsRow> = processes
            .iter()
            .map(|p| PsRow {
                pid: p.pid,
                exec_id: p.info.as_ref().and_then(process_details).map(|d| d.exec_id),
            })
            .collect();
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(1, 4);
    tw.raw("PID\tINFO\n");
    for p in &processes {
        let info = match p.info.as_ref() {
            None => "-".to_string(),
            Some(any) => match process_details(any) {
                Some(d) => format!(
                    "&ProcessDetails{{ExecID:{},XXX_unrecognized:[],}}",
                    d.exec_id
                ),
                None => any.type_url.clone(),
            },
        };
        tw.raw(&format!("{}\t{info}\n", p.pid));
    }
    print(&tw.finish())
}

/// Options of an exec (`tasks exec`, `exec`).
pub struct ExecOptions {
    /// Working directory.
    pub cwd: Option<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Return once the process started.
    pub detach: bool,
    /// The process's id within the task.
    pub exec_id: String,
    /// Where the FIFOs go.
    pub fifo_dir: std::path::PathBuf,
    /// A log URI instead of FIFOs.
    pub log_uri: Option<String>,
    /// The user to run as.
    pub user: Option<String>,
    /// Environment variables to add.
    pub env: Vec<String>,
    /// What stdin is.
    pub stdin: StdinMode,
}

/// The user database of a container's root filesystem.
async fn container_users(
    client: &Client,
    container: &crated_client::containers::Container,
) -> Result<UserDb> {
    if !container.snapshot_key.is_empty() {
        let mounts = client
            .snapshots(container.snapshotter.clone())
            .mounts(&container.snapshot_key)
            .await?;
        return Ok(user_db_from_layers(&mount_layers(&mounts))?);
    }
    let spec = container.spec()?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    if root.is_absolute() {
        return Ok(UserDb::read(&root)?);
    }
    Ok(UserDb::default())
}

/// Runs `args` in the task of container `id` as `options` say; in the
/// foreground ends with the process's exit status.
pub async fn exec(
    ctx: &Context,
    client: &Client,
    id: &str,
    args: Vec<String>,
    options: ExecOptions,
) -> Result<()> {
    let container =
        client.containers().get(id).await.map_err(|err| {
            hints::not_found(err, &ctx.command_line("containers ls"), "containers")
        })?;
    let spec = container.spec()?;
    let user = match &options.user {
        Some(user) => {
            let db = container_users(client, &container).await?;
            let (uid, gid) = db.resolve_ids(user)?;
            let groups =
                crated_client::spec::with_primary_gid(gid, db.supplementary_gids(&uid.to_string()));
            Some((uid, gid, groups))
        }
        None => None,
    };
    let mut process = exec_process(&spec, args, options.tty, options.cwd.as_deref(), user)?;
    if !options.env.is_empty() {
        let env = process.env().clone().unwrap_or_default();
        process.set_env(Some(replace_or_append_env(&env, &options.env)));
    }
    let exec_id = options.exec_id.as_str();
    let mut io = match &options.log_uri {
        Some(uri) => ProcessIo::Direct(crated_client::tasks::Stdio {
            stdin: String::new(),
            stdout: uri.clone(),
            stderr: uri.clone(),
            terminal: false,
        }),
        None => ProcessIo::Fifos(fifo_io(
            &options.fifo_dir,
            exec_id,
            options.tty,
            options.stdin,
        )?),
    };
    let mut terminal = Terminal::new(options.tty && !options.detach)?;
    let tasks = client.tasks();
    if let Err(err) = tasks
        .exec(id, exec_id, process_to_any(&process)?, io.stdio())
        .await
    {
        io.close();
        terminal.restore();
        return Err(hints::task_error(ctx, err, id).context(format!("exec {exec_id} in {id}")));
    }
    let foreground =
        (!options.detach).then(|| Foreground::wait_for(client, id, exec_id, options.tty));
    if let Err(err) = tasks.start(id, exec_id).await {
        terminal.restore();
        let _ = tasks.delete_process(id, exec_id).await;
        io.close();
        return Err(
            hints::task_error(ctx, err, id).context(format!("starting exec {exec_id} in {id}"))
        );
    }
    let Some(foreground) = foreground else {
        return Ok(());
    };
    let status = foreground
        .finish(client, id, exec_id, &mut io, &terminal, options.tty)
        .await;
    terminal.restore();
    let deleted = tasks.delete_process(id, exec_id).await;
    io.close();
    let status = status?;
    if let Err(err) = deleted {
        tracing::warn!(error = %err, "deleting exec process {exec_id}");
    }
    exit_with(status.code)
}

async fn attach(ctx: &Context, client: &Client, id: &str) -> Result<()> {
    let container =
        client.containers().get(id).await.map_err(|err| {
            hints::not_found(err, &ctx.command_line("containers ls"), "containers")
        })?;
    let tty = container
        .spec()
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false);
    let process = client
        .tasks()
        .get(id, "")
        .await
        .map_err(|err| hints::task_error(ctx, err, id))?;
    let fifos = FifoSet::from_process(&process);
    if fifos.stdout.is_none() && fifos.stdin.is_none() {
        bail!(
            "task {id} has no IO FIFOs to attach to (it was started with --null-io or --log-uri)"
        );
    }
    let mut streams = Streams::stdio();
    if tty {
        streams.stderr = None;
    }
    let terminal = Terminal::new(tty)?;
    let mut io = ProcessIo::Fifos(Io::start(fifos, streams));
    let foreground = Foreground::wait_for(client, id, "", tty);
    let status = foreground
        .finish(client, id, "", &mut io, &terminal, tty)
        .await;
    drop(terminal);
    let status = status?;
    // ctr deletes the task once it exited.
    let deleted = client.tasks().delete(id).await;
    io.close();
    if let Err(err) = deleted {
        tracing::warn!(error = %err, "deleting the task of {id}");
    }
    exit_with(status.code)
}

/// `ID TIMESTAMP` then the metrics table, as `ctr tasks metrics`.
async fn metrics(ctx: &Context, client: &Client, id: &str) -> Result<()> {
    let filter = format!("id=={id}");
    let metrics = client
        .tasks()
        .metrics(&[filter])
        .await
        .map_err(|err| hints::task_error(ctx, err, id))?;
    let Some(metric) = metrics.into_iter().find(|m| m.id == id) else {
        // Tell a missing task from one without metrics.
        client
            .tasks()
            .get(id, "")
            .await
            .map_err(|err| hints::task_error(ctx, err, id))?;
        bail!("task {id} has no metrics (its shim could not read its cgroup)");
    };
    let decoded = decode_metrics(&metric)?;
    if ctx.json() {
        return print_json(&message_json(decoded.as_ref()));
    }
    print(&metrics_table(&metric, decoded.as_ref()))
}

/// The cgroup v1 or v2 metrics message of `metric`.
fn decode_metrics(metric: &Metric) -> Result<Box<dyn MessageDyn>> {
    Ok(match metric.decode()? {
        CgroupMetrics::V1(m) => Box::new(m),
        CgroupMetrics::V2(m) => Box::new(m),
    })
}

fn metrics_table(metric: &Metric, data: &dyn MessageDyn) -> String {
    let mut tw = TabWriter::new(1, 4);
    tw.raw("ID\tTIMESTAMP\t\n");
    let timestamp = metric.timestamp.map(human::go_time).unwrap_or_default();
    tw.raw(&format!("{}\t{timestamp}\t\n\n", metric.id));
    tw.raw("METRIC\tVALUE\t\n");
    let json = message_json(data);
    let get = |path: &str| -> Value { json.pointer(path).cloned().unwrap_or(Value::from(0)) };
    let go_list = |v: Value| -> String {
        let items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default();
        format!("[{}]", items.join(" "))
    };
    let v1 = json.get("memory").is_some_and(|m| m.get("usage").is_some())
        || json
            .get("cpu")
            .is_some_and(|c| c.get("usage").is_some_and(Value::is_object));
    if v1 {
        if json.get("memory").is_some() {
            tw.raw(&format!(
                "memory.usage_in_bytes\t{}\t\n",
                get("/memory/usage/usage")
            ));
            tw.raw(&format!(
                "memory.limit_in_bytes\t{}\t\n",
                get("/memory/usage/limit")
            ));
            tw.raw(&format!(
                "memory.stat.cache\t{}\t\n",
                get("/memory/total_cache")
            ));
        }
        if json.get("cpu").is_some() {
            tw.raw(&format!("cpuacct.usage\t{}\t\n", get("/cpu/usage/total")));
            tw.raw(&format!(
                "cpuacct.usage_percpu\t{}\t\n",
                go_list(get("/cpu/usage/per_cpu"))
            ));
        }
        if json.get("pids").is_some() {
            tw.raw(&format!("pids.current\t{}\t\n", get("/pids/current")));
            tw.raw(&format!("pids.limit\t{}\t\n", get("/pids/limit")));
        }
    } else {
        if json.get("pids").is_some() {
            tw.raw(&format!("pids.current\t{}\t\n", get("/pids/current")));
            tw.raw(&format!("pids.limit\t{}\t\n", get("/pids/limit")));
        }
        if json.get("cpu").is_some() {
            for field in [
                "usage_usec",
                "user_usec",
                "system_usec",
                "nr_periods",
                "nr_throttled",
                "throttled_usec",
            ] {
                tw.raw(&format!(
                    "cpu.{field}\t{}\t\n",
                    get(&format!("/cpu/{field}"))
                ));
            }
        }
        if json.get("memory").is_some() {
            for field in ["usage", "usage_limit", "swap_usage", "swap_limit"] {
                tw.raw(&format!(
                    "memory.{field}\t{}\t\n",
                    get(&format!("/memory/{field}"))
                ));
            }
        }
    }
    tw.finish()
}

/// A protobuf message as JSON with its field names, zero values left out
/// (as Go's `json` with `omitempty` prints the cgroups structs).
pub fn message_json(message: &dyn MessageDyn) -> Value {
    use protobuf::reflect::{ReflectFieldRef, ReflectValueRef};
    fn value(v: ReflectValueRef<'_>) -> Value {
        match v {
            ReflectValueRef::U32(x) => Value::from(x),
            ReflectValueRef::U64(x) => Value::from(x),
            ReflectValueRef::I32(x) => Value::from(x),
            ReflectValueRef::I64(x) => Value::from(x),
            ReflectValueRef::F32(x) => Value::from(f64::from(x)),
            ReflectValueRef::F64(x) => Value::from(x),
            ReflectValueRef::Bool(x) => Value::from(x),
            ReflectValueRef::String(x) => Value::from(x),
            ReflectValueRef::Bytes(x) => Value::from(x.to_vec()),
            ReflectValueRef::Enum(_, x) => Value::from(x),
            ReflectValueRef::Message(m) => message_json(&*m),
        }
    }
    fn is_zero(v: &ReflectValueRef<'_>) -> bool {
        match v {
            ReflectValueRef::U32(x) => *x == 0,
            ReflectValueRef::U64(x) => *x == 0,
            ReflectValueRef::I32(x) => *x == 0,
            ReflectValueRef::I64(x) => *x == 0,
            ReflectValueRef::F32(x) => *x == 0.0,
            ReflectValueRef::F64(x) => *x == 0.0,
            ReflectValueRef::Bool(x) => !*x,
            ReflectValueRef::String(x) => x.is_empty(),
            ReflectValueRef::Bytes(x) => x.is_empty(),
            ReflectValueRef::Enum(_, x) => *x == 0,
            ReflectValueRef::Message(_) => false,
        }
    }
    let mut out = serde_json::Map::new();
    let descriptor = message.descriptor_dyn();
    for field in descriptor.fields() {
        let v = match field.get_reflect(message) {
            ReflectFieldRef::Optional(opt) => match opt.value() {
                Some(v) if is_zero(&v) => continue,
                Some(v) => value(v),
                None => continue,
            },
            ReflectFieldRef::Repeated(rep) => {
                if rep.is_empty() {
                    continue;
                }
                Value::Array(rep.into_iter().map(value).collect())
            }
            ReflectFieldRef::Map(map) => {
                if map.is_empty() {
                    continue;
                }
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k.to_string(), value(v)))
                        .collect(),
                )
            }
        };
        out.insert(field.name().to_string(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_client::api::ttrpc::cgroups::metrics::{
        CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat,
    };

    #[test]
    fn v1_metrics_table_like_ctr() {
        let mut m = Metrics::new();
        let mut pids = PidsStat::new();
        pids.current = 1;
        m.pids = Some(pids).into();
        let mut usage = CPUUsage::new();
        usage.total = 9252336;
        usage.per_cpu = vec![3843781, 5408555];
        let mut cpu = CPUStat::new();
        cpu.usage = Some(usage).into();
        m.cpu = Some(cpu).into();
        let mut entry = MemoryEntry::new();
        entry.usage = 425984;
        entry.limit = 9223372036854771712;
        let mut memory = MemoryStat::new();
        memory.usage = Some(entry).into();
        m.memory = Some(memory).into();
        let metric = Metric {
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000, 5),
            id: "t2".into(),
            data: None,
        };
        let table = metrics_table(&metric, &m);
        let expected = "ID    TIMESTAMP                                  \n\
t2    2023-11-14 22:13:20.000000005 +0000 UTC    \n\
\n\
METRIC                   VALUE                  \n\
memory.usage_in_bytes    425984                 \n\
memory.limit_in_bytes    9223372036854771712    \n\
memory.stat.cache        0                      \n\
cpuacct.usage            9252336                \n\
cpuacct.usage_percpu     [3843781 5408555]      \n\
pids.current             1                      \n\
pids.limit               0                      \n";
        assert_eq!(table, expected);
        let json = message_json(&m);
        assert_eq!(
            json["cpu"]["usage"]["per_cpu"],
            serde_json::json!([3843781, 5408555])
        );
        assert!(json["pids"].get("limit").is_none());
    }
}
