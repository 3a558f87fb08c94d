//! `ps`, `inspect` and `top`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow, bail};
use crated_client::Client;
use crated_client::containers::Container;
use crated_client::tasks::{Process, Status};
use serde::Serialize;

use super::{EXIT_CODE_LABEL, container};
use crate::cli::PsArgs;
use crate::commands::containers::info_json;
use crate::context::Context;
use crate::output::table::TabWriter;
use crate::output::{human, json_time, print, print_json};

/// A container and its task, as `ps` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    names: String,
    image: String,
    command: String,
    created_at: String,
    /// created, running, paused or exited.
    state: String,
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(skip)]
    created: Option<chrono::DateTime<chrono::Utc>>,
}

fn state(task: Option<&Process>, labels: &HashMap<String, String>) -> (String, String) {
    match task.map(|t| (t.status, t)) {
        Some((Status::Running, _)) => ("running".into(), "Up".into()),
        Some((Status::Paused | Status::Pausing, _)) => ("paused".into(), "Up (Paused)".into()),
        Some((Status::Created, _)) => ("created".into(), "Created".into()),
        Some((_, t)) => ("exited".into(), format!("Exited ({})", t.exit_status)),
        None => match labels.get(EXIT_CODE_LABEL).filter(|c| !c.is_empty()) {
            Some(code) => ("exited".into(), format!("Exited ({code})")),
            None => ("created".into(), "Created".into()),
        },
    }
}

fn row(container: &Container, task: Option<&Process>) -> Row {
    let (state, status) = state(task, &container.labels);
    let command = container
        .spec()
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.args().clone()))
        .map(|args| args.join(" "))
        .unwrap_or_default();
    Row {
        id: container.id.clone(),
        names: container.id.clone(),
        image: container.image.clone(),
        command,
        created_at: container.created_at.map(json_time).unwrap_or_default(),
        state,
        status,
        labels: container.labels.clone().into_iter().collect(),
        created: container.created_at,
    }
}

/// One `--filter` of `ps`.
#[derive(Debug, PartialEq, Eq)]
enum Filter {
    Id(String),
    Name(String),
    Label(String, Option<String>),
    Status(String),
    Ancestor(String),
}

impl Filter {
    fn parse(text: &str) -> Result<Filter> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid filter {text:?}: use KEY=VALUE, e.g. status=exited"))?;
        let value = value.to_string();
        Ok(match key {
            "id" => Filter::Id(value),
            "name" => Filter::Name(value),
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                None => Filter::Label(value, None),
            },
            "status" => match value.as_str() {
                "created" | "running" | "paused" | "exited" => Filter::Status(value),
                _ => bail!(
                    "invalid filter {text:?}: status is one of created, running, paused, exited"
                ),
            },
            "ancestor" => Filter::Ancestor(super::normalize(&value)?),
            _ => bail!("invalid filter {text:?}: filters are id, name, label, status and ancestor"),
        })
    }

    fn matches(&self, row: &Row) -> bool {
        match self {
            Filter::Id(id) => row.id.starts_with(id.as_str()),
            Filter::Name(name) => row.names.contains(name.as_str()),
            Filter::Label(key, value) => match (row.labels.get(key), value) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
            Filter::Status(status) => row.state == *status,
            Filter::Ancestor(image) => row.image == *image,
        }
    }
}

/// `ps`.
pub async fn ps(ctx: &Context, client: &Client, args: PsArgs) -> Result<()> {
    let filters: Vec<Filter> = args
        .filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<_>>()?;
    let containers = client.containers().list(&[]).await?;
    let tasks: HashMap<String, Process> = client
        .tasks()
        .list()
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut rows: Vec<Row> = containers
        .iter()
        .map(|c| row(c, tasks.get(&c.id)))
        .filter(|r| args.all || r.state == "running" || r.state == "paused")
        .filter(|r| filters.iter().all(|f| f.matches(r)))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.created));
    if args.quiet {
        let ids: String = rows.iter().map(|r| format!("{}\n", r.id)).collect();
        return print(&ids);
    }
    if ctx.json() {
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(1, 3);
    tw.row(&[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ]);
    for r in &rows {
        let mut command = r.command.clone();
        if command.chars().count() > 20 {
            command = format!("{}…", command.chars().take(19).collect::<String>());
        }
        tw.row(&[
            r.id.clone(),
            r.image.clone(),
            format!("\"{command}\""),
            r.created
                .map(|t| format!("{} ago", human::age(t)))
                .unwrap_or_default(),
            r.status.clone(),
            r.names.clone(),
        ]);
    }
    print(&tw.finish())
}

/// What `inspect` prints of a container: its record and spec (as
/// `containers info`) and its state.
#[derive(Serialize)]
struct Inspected {
    #[serde(flatten)]
    info: crate::commands::containers::InfoJson,
    state: StateJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_path: Option<String>,
}

#[derive(Serialize)]
struct StateJson {
    status: String,
    running: bool,
    paused: bool,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u32>,
}

/// `inspect`: a JSON array; a missing container is an error (exit 1)
/// after the others are printed.
pub async fn inspect(ctx: &Context, client: &Client, ids: &[String]) -> Result<()> {
    let mut found = Vec::new();
    let mut failed = false;
    for id in ids {
        match inspect_one(ctx, client, id).await {
            Ok(inspected) => found.push(inspected),
            Err(err) => {
                crate::commands::report(&err);
                failed = true;
            }
        }
    }
    print_json(&found)?;
    if failed {
        return Err(crate::commands::Reported.into());
    }
    Ok(())
}

async fn inspect_one(ctx: &Context, client: &Client, id: &str) -> Result<Inspected> {
    let container = container(ctx, client, id).await?;
    let task = match client.tasks().get(id, "").await {
        Ok(task) => Some(task),
        Err(err) if err.is_not_found() => None,
        Err(err) => return Err(err.into()),
    };
    let (state, _) = state(task.as_ref(), &container.labels);
    let exit_code = match &task {
        Some(t) if t.status == Status::Stopped => Some(t.exit_status),
        Some(_) => None,
        None => container
            .labels
            .get(EXIT_CODE_LABEL)
            .and_then(|c| c.parse().ok()),
    };
    Ok(Inspected {
        info: info_json(&container),
        state: StateJson {
            running: state == "running",
            paused: state == "paused",
            status: state,
            pid: task.as_ref().map_or(0, |t| t.pid),
            exit_code,
        },
        log_path: super::log_path(&container).map(|p| p.display().to_string()),
    })
}

/// `top`: the container's processes as the host sees them.
pub async fn top(ctx: &Context, client: &Client, id: &str) -> Result<()> {
    container(ctx, client, id).await?;
    let pids = client
        .tasks()
        .pids(id)
        .await
        .map_err(|err| crate::hints::task_error(ctx, err, id))?;
    let mut tw = TabWriter::new(1, 3);
    tw.row(&["UID", "PID", "PPID", "CMD"]);
    for p in &pids {
        let (uid, ppid) = proc_status(p.pid);
        let cmd = std::fs::read(format!("/proc/{}/cmdline", p.pid))
            .map(|bytes| {
                bytes
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        tw.row(&[uid, p.pid.to_string(), ppid, cmd]);
    }
    print(&tw.finish())
}

/// The real uid and the parent pid of `pid`, from `/proc/<pid>/status`.
fn proc_status(pid: u32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string()
    };
    (field("Uid:"), field("PPid:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        assert_eq!(
            Filter::parse("label=a=b").unwrap(),
            Filter::Label("a".into(), Some("b".into()))
        );
        assert_eq!(
            Filter::parse("ancestor=busybox").unwrap(),
            Filter::Ancestor("docker.io/library/busybox:latest".into())
        );
        assert!(Filter::parse("status=sleeping").is_err());
        assert!(Filter::parse("colour=red").is_err());
        assert!(Filter::parse("name").is_err());
        let row = Row {
            id: "web-1".into(),
            names: "web-1".into(),
            image: "docker.io/library/busybox:latest".into(),
            command: "sh".into(),
            created_at: String::new(),
            state: "exited".into(),
            status: "Exited (3)".into(),
            labels: [("a".to_string(), "b".to_string())].into(),
            created: None,
        };
        assert!(Filter::parse("name=web").unwrap().matches(&row));
        assert!(Filter::parse("status=exited").unwrap().matches(&row));
        assert!(!Filter::parse("status=running").unwrap().matches(&row));
        assert!(Filter::parse("label=a").unwrap().matches(&row));
        assert!(!Filter::parse("label=a=c").unwrap().matches(&row));
        assert!(Filter::parse("ancestor=busybox").unwrap().matches(&row));
    }

    #[test]
    fn states_from_tasks_and_labels() {
        let none = HashMap::new();
        assert_eq!(state(None, &none).0, "created");
        let exited: HashMap<String, String> =
            [(EXIT_CODE_LABEL.to_string(), "3".to_string())].into();
        assert_eq!(state(None, &exited).1, "Exited (3)");
    }
}
