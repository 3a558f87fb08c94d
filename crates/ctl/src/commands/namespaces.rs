//! `cratectl namespaces`.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use crated_client::Client;
use serde::Serialize;

use crate::args::label_args;
use crate::cli::NamespacesCommand;
use crate::commands::{Reported, report};
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, print, print_json};

#[derive(Serialize)]
struct NamespaceJson<'a> {
    name: &'a str,
    labels: BTreeMap<&'a String, &'a String>,
}

/// Runs a `namespaces` subcommand.
pub async fn run(ctx: &Context, command: NamespacesCommand) -> Result<()> {
    let client = ctx.connect().await?;
    match command {
        NamespacesCommand::Create { name, labels } => {
            client
                .namespaces()
                .create(&name, label_args(&labels))
                .await?;
            Ok(())
        }
        NamespacesCommand::Ls { quiet } => list(ctx, &client, quiet).await,
        NamespacesCommand::Rm { names } => remove(&client, &names).await,
        NamespacesCommand::Label { name, labels } => label(&client, &name, &labels).await,
    }
}

async fn list(ctx: &Context, client: &Client, quiet: bool) -> Result<()> {
    let mut namespaces = client.namespaces().list().await?;
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    if quiet {
        let names: String = namespaces
            .iter()
            .map(|ns| format!("{}\n", ns.name))
            .collect();
        return print(&names);
    }
    if ctx.json() {
        let json: Vec<NamespaceJson> = namespaces
            .iter()
            .map(|ns| NamespaceJson {
                name: &ns.name,
                labels: ns.labels.iter().collect(),
            })
            .collect();
        return print_json(&json);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["NAME", "LABELS"]);
    for ns in &namespaces {
        tw.row(&[ns.name.clone(), human::labels(&ns.labels)]);
    }
    print(&tw.finish())
}

/// Removes each namespace, printing the ones removed; carries on past
/// failures, printing each.
async fn remove(client: &Client, names: &[String]) -> Result<()> {
    let mut failed = false;
    for name in names {
        match client.namespaces().delete(name).await {
            Ok(()) => print(&format!("{name}\n"))?,
            Err(err) => {
                failed = true;
                report(&hints::not_found(
                    err,
                    "cratectl namespaces ls",
                    "namespaces",
                ));
            }
        }
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
}

/// Sets and clears labels; `key=` clears. The namespace must exist: an
/// update would create it, and containerd's Get answers for any name, so
/// existence is checked in the list.
async fn label(client: &Client, name: &str, labels: &[String]) -> Result<()> {
    if name.is_empty() {
        bail!("please specify a namespace");
    }
    let namespaces = client.namespaces();
    if !namespaces.list().await?.iter().any(|ns| ns.name == name) {
        let err = crated_client::Error::Daemon(crated_core::Error::not_found(format!(
            "namespace {name:?}"
        )));
        return Err(hints::not_found(
            err,
            "cratectl namespaces ls",
            "namespaces",
        ));
    }
    if labels.is_empty() {
        return Ok(());
    }
    namespaces.update_labels(name, label_args(labels)).await?;
    Ok(())
}
