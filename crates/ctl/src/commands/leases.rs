//! `cratectl leases`.

use std::collections::BTreeMap;

use anyhow::Result;
use crated_client::Client;
use crated_client::leases::LeaseOptions;
use serde::Serialize;

use crate::args::lease_label_args;
use crate::cli::LeasesCommand;
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, json_time, print, print_json};

#[derive(Serialize)]
struct LeaseJson<'a> {
    id: &'a str,
    created_at: String,
    labels: BTreeMap<&'a String, &'a String>,
}

/// Runs a `leases` subcommand.
pub async fn run(ctx: &Context, command: LeasesCommand) -> Result<()> {
    let client = ctx.connect().await?;
    match command {
        LeasesCommand::Ls { quiet, filters } => list(ctx, &client, quiet, &filters).await,
        LeasesCommand::Create {
            id,
            expires,
            labels,
        } => {
            let options = LeaseOptions {
                id,
                labels: lease_label_args(&labels),
                expires: Some(expires),
            };
            let lease = client.leases().create(options).await?;
            if ctx.json() {
                return print_json(&lease_json(&lease));
            }
            print(&format!("{}\n", lease.id))
        }
        LeasesCommand::Rm { sync, ids } => remove(ctx, &client, sync, &ids).await,
    }
}

fn lease_json(lease: &crated_client::leases::Lease) -> LeaseJson<'_> {
    LeaseJson {
        id: &lease.id,
        created_at: json_time(lease.created_at),
        labels: lease.labels.iter().collect(),
    }
}

async fn list(ctx: &Context, client: &Client, quiet: bool, filters: &[String]) -> Result<()> {
    let leases = client.leases().list(filters).await?;
    if quiet {
        let ids: String = leases.iter().map(|l| format!("{}\n", l.id)).collect();
        return print(&ids);
    }
    if ctx.json() {
        let json: Vec<LeaseJson> = leases.iter().map(lease_json).collect();
        return print_json(&json);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["ID", "CREATED AT", "LABELS"]);
    for lease in &leases {
        tw.row(&[
            lease.id.clone(),
            human::local_rfc3339(lease.created_at),
            human::labels_or_dash(&lease.labels),
        ]);
    }
    print(&tw.finish())
}

/// Deletes the leases in order, printing each; like ctr, only the last
/// delete is synchronous, so garbage is collected once.
async fn remove(ctx: &Context, client: &Client, sync: bool, ids: &[String]) -> Result<()> {
    let leases = client.leases();
    for (i, id) in ids.iter().enumerate() {
        let last = i + 1 == ids.len();
        leases
            .delete(id, sync && last)
            .await
            .map_err(|err| hints::not_found(err, &ctx.command_line("leases ls"), "leases"))?;
        print(&format!("{id}\n"))?;
    }
    Ok(())
}
