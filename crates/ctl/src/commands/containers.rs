//! `cratectl containers`.

use std::collections::BTreeMap;

use anyhow::Result;
use base64::Engine as _;
use crated_client::Client;
use crated_client::containers::Container;
use crated_client::tasks::Status;
use serde::Serialize;
use serde_json::Value;

use super::{Reported, report, run as run_cmd, tasks};
use crate::args::lease_label_args;
use crate::cli::ContainersCommand;
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{print, print_json_go};

/// Runs a `containers` subcommand.
pub async fn run(ctx: &Context, command: ContainersCommand) -> Result<()> {
    let client = ctx.connect().await?;
    match command {
        ContainersCommand::Run(args) => run_cmd::run(ctx, &client, *args).await,
        ContainersCommand::Create(flags) => {
            run_cmd::create(ctx, &client, &flags, None).await?;
            Ok(())
        }
        ContainersCommand::Ls { quiet, filters } => list(ctx, &client, quiet, &filters).await,
        ContainersCommand::Info { spec, id } => info(ctx, &client, spec, &id).await,
        ContainersCommand::Rm { keep_snapshot, ids } => {
            remove(ctx, &client, keep_snapshot, &ids).await
        }
        ContainersCommand::Label { id, labels } => {
            let labels = client
                .containers()
                .set_labels(&id, lease_label_args(&labels))
                .await
                .map_err(|err| not_found(ctx, err))?;
            let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.sort();
            print(&format!("{}\n", pairs.join(",")))
        }
    }
}

fn not_found(ctx: &Context, err: crated_client::Error) -> anyhow::Error {
    hints::not_found(err, &ctx.command_line("containers ls"), "containers")
}

/// A row of `containers ls --format json`.
#[derive(Serialize)]
struct ContainerRow<'a> {
    id: &'a str,
    image: &'a str,
    runtime: &'a str,
    labels: BTreeMap<&'a String, &'a String>,
}

async fn list(ctx: &Context, client: &Client, quiet: bool, filters: &[String]) -> Result<()> {
    let containers = client.containers().list(filters).await?;
    if quiet {
        let ids: String = containers.iter().map(|c| format!("{}\n", c.id)).collect();
        return print(&ids);
    }
    if ctx.json() {
        let rows: Vec<ContainerRow> = containers
            .iter()
            .map(|c| ContainerRow {
                id: &c.id,
                image: &c.image,
                runtime: &c.runtime.name,
                labels: c.labels.iter().collect(),
            })
            .collect();
        return crate::output::print_json(&rows);
    }
    let mut tw = TabWriter::new(4, 4);
    tw.row(&["CONTAINER", "IMAGE", "RUNTIME"]);
    for c in &containers {
        let image = if c.image.is_empty() {
            "-"
        } else {
            c.image.as_str()
        };
        tw.row(&[c.id.as_str(), image, c.runtime.name.as_str()]);
    }
    print(&tw.finish())
}

/// An `Any` as Go's `types.Any` marshals to JSON.
#[derive(Serialize)]
struct AnyJson {
    type_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

fn any_json(any: &crated_client::api::prost_types::Any) -> AnyJson {
    AnyJson {
        type_url: any.type_url.clone(),
        value: (!any.value.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&any.value)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeJson {
    name: String,
    options: Option<AnyJson>,
}

/// The spec in the order of its fields when it decodes, else as stored.
#[derive(Serialize)]
#[serde(untagged)]
enum SpecJson {
    Typed(Box<crated_client::spec::OciSpec>),
    Raw(Value),
}

fn spec_json(c: &Container) -> Option<SpecJson> {
    match c.spec() {
        Ok(spec) => Some(SpecJson::Typed(Box::new(spec))),
        Err(_) => c.spec_json().map(SpecJson::Raw),
    }
}

/// A container as `ctr containers info` prints it: containerd's Go field
/// names and order, the spec decoded.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InfoJson {
    #[serde(rename = "ID")]
    id: String,
    labels: Option<BTreeMap<String, String>>,
    image: String,
    runtime: RuntimeJson,
    snapshot_key: String,
    snapshotter: String,
    created_at: String,
    updated_at: String,
    extensions: Option<BTreeMap<String, AnyJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<SpecJson>,
}

/// The JSON `containers info` prints for `c`.
pub fn info_json(c: &Container) -> InfoJson {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
    };
    InfoJson {
        id: c.id.clone(),
        labels: (!c.labels.is_empty()).then(|| c.labels.clone().into_iter().collect()),
        image: c.image.clone(),
        runtime: RuntimeJson {
            name: c.runtime.name.clone(),
            options: c.runtime.options.as_ref().map(any_json),
        },
        snapshot_key: c.snapshot_key.clone(),
        snapshotter: c.snapshotter.clone(),
        created_at: time(c.created_at),
        updated_at: time(c.updated_at),
        extensions: (!c.extensions.is_empty()).then(|| {
            c.extensions
                .iter()
                .map(|(k, v)| (k.clone(), any_json(v)))
                .collect()
        }),
        spec: spec_json(c),
    }
}

async fn info(ctx: &Context, client: &Client, spec_only: bool, id: &str) -> Result<()> {
    let container = client
        .containers()
        .get(id)
        .await
        .map_err(|err| not_found(ctx, err))?;
    if spec_only {
        return print_json_go(&spec_json(&container));
    }
    print_json_go(&info_json(&container))
}

/// Deletes each container, deleting a stopped (or created) task first, as
/// ctr does; a running task is an error for that container only.
async fn remove(ctx: &Context, client: &Client, keep_snapshot: bool, ids: &[String]) -> Result<()> {
    let mut failed = false;
    for id in ids {
        if let Err(err) = remove_one(ctx, client, keep_snapshot, id).await {
            report(&err.context(format!("failed to delete container {id:?}")));
            failed = true;
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

async fn remove_one(ctx: &Context, client: &Client, keep_snapshot: bool, id: &str) -> Result<()> {
    client
        .containers()
        .get(id)
        .await
        .map_err(|err| not_found(ctx, err))?;
    match client.tasks().get(id, "").await {
        Ok(task) => match task.status {
            Status::Stopped | Status::Created | Status::Unknown => {
                tasks::delete_task(client, id).await?;
            }
            status => {
                anyhow::bail!(
                    "cannot delete a non stopped container: its task is {} (stop it with \"{}\" first)",
                    status.as_str().to_lowercase(),
                    ctx.command_line(&format!("tasks kill {id}"))
                );
            }
        },
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(err.into()),
    }
    client.delete_container(id, !keep_snapshot).await?;
    Ok(())
}
