//! `cratectl content`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context as _, Result, anyhow, bail};
use crated_client::Client;
use crated_client::namespaces::label_path;
use futures::StreamExt;
use serde::Serialize;

use crate::args::{label_args, validate_digest};
use crate::cli::ContentCommand;
use crate::commands::{Reported, report};
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, json_time, print, print_json};

#[derive(Serialize)]
struct InfoJson<'a> {
    digest: &'a str,
    size: i64,
    created_at: String,
    updated_at: String,
    labels: BTreeMap<&'a String, &'a String>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(rename = "ref")]
    reference: &'a str,
    offset: i64,
    total: i64,
    expected: &'a str,
    started_at: String,
    updated_at: String,
}

/// Runs a `content` subcommand.
pub async fn run(ctx: &Context, command: ContentCommand) -> Result<()> {
    // Check arguments before connecting.
    match &command {
        ContentCommand::Get { digest } | ContentCommand::Label { digest, .. } => {
            validate_digest(digest).map_err(|e| anyhow!(e))?;
        }
        ContentCommand::Ingest {
            expected_digest: Some(digest),
            ..
        } => validate_digest(digest).map_err(|e| anyhow!(e))?,
        _ => {}
    }
    let client = ctx.connect().await?;
    match command {
        ContentCommand::Fetch(args) => super::images_transfer::fetch(&client, args).await,
        ContentCommand::Ls { quiet, filters } => list(ctx, &client, quiet, &filters).await,
        ContentCommand::Get { digest } => get(ctx, &client, &digest).await,
        ContentCommand::Ingest {
            reference,
            expected_size,
            expected_digest,
        } => {
            ingest(
                &client,
                &reference,
                expected_size,
                expected_digest.as_deref(),
            )
            .await
        }
        ContentCommand::Rm { digests } => remove(ctx, &client, &digests).await,
        ContentCommand::Label { digest, labels } => label(ctx, &client, &digest, &labels).await,
        ContentCommand::Active { filters } => active(ctx, &client, &filters).await,
    }
}

fn not_found(ctx: &Context) -> impl Fn(crated_client::Error) -> anyhow::Error + '_ {
    move |err| hints::not_found(err, &ctx.command_line("content ls"), "blobs")
}

async fn list(ctx: &Context, client: &Client, quiet: bool, filters: &[String]) -> Result<()> {
    let infos = client.content().list(filters).await?;
    if quiet {
        let digests: String = infos.iter().map(|i| format!("{}\n", i.digest)).collect();
        return print(&digests);
    }
    if ctx.json() {
        let json: Vec<InfoJson> = infos
            .iter()
            .map(|i| InfoJson {
                digest: &i.digest,
                size: i.size,
                created_at: json_time(i.created_at),
                updated_at: json_time(i.updated_at),
                labels: i.labels.iter().collect(),
            })
            .collect();
        return print_json(&json);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.raw("DIGEST\tSIZE\tAGE\tLABELS\n");
    for info in &infos {
        tw.raw(&format!(
            "{}\t{}\t{}\t{}\n",
            info.digest,
            human::size(info.size),
            human::age(info.created_at),
            human::labels_or_dash(&info.labels)
        ));
    }
    print(&tw.finish())
}

/// Copies the blob to stdout as it arrives.
async fn get(ctx: &Context, client: &Client, digest: &str) -> Result<()> {
    let mut chunks = client
        .content()
        .read(digest, 0, 0)
        .await
        .map_err(not_found(ctx))?;
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(not_found(ctx))?;
        match stdout.write_all(&chunk) {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.context("writing to stdout")?,
        }
    }
    match stdout.flush() {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// Stores stdin as a blob; quiet on success, like ctr.
async fn ingest(
    client: &Client,
    reference: &str,
    expected_size: Option<i64>,
    expected_digest: Option<&str>,
) -> Result<()> {
    if reference.is_empty() {
        bail!("must specify a transaction reference");
    }
    let expected_size = expected_size.filter(|size| *size != 0);
    let outcome = client
        .content()
        .write_blob(
            reference,
            expected_digest,
            expected_size,
            tokio::io::stdin(),
            Default::default(),
        )
        .await?;
    tracing::debug!(?outcome, "ingested");
    Ok(())
}

/// Deletes each blob, printing the ones deleted; carries on past failures,
/// printing each.
async fn remove(ctx: &Context, client: &Client, digests: &[String]) -> Result<()> {
    let content = client.content();
    let mut failed = false;
    for digest in digests {
        let result = match validate_digest(digest) {
            Err(err) => Err(anyhow!(err)),
            Ok(()) => content.delete(digest).await.map_err(not_found(ctx)),
        };
        match result {
            Ok(()) => print(&format!("{digest}\n"))?,
            Err(err) => {
                failed = true;
                report(&err);
            }
        }
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
}

/// Sets and clears labels (`key=` clears), then prints the blob's labels.
async fn label(ctx: &Context, client: &Client, digest: &str, labels: &[String]) -> Result<()> {
    let changes = label_args(labels);
    let content = client.content();
    let info = if changes.is_empty() {
        content.info(digest).await
    } else {
        let paths = changes.keys().map(|k| label_path(k)).collect();
        let labels = changes.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        content.update(digest, labels, paths).await
    }
    .map_err(not_found(ctx))?;
    print(&format!("{}\n", human::labels(&info.labels)))
}

/// `REF SIZE AGE` of the ingests in progress.
async fn active(ctx: &Context, client: &Client, filters: &[String]) -> Result<()> {
    let statuses = client.content().list_statuses(filters).await?;
    if ctx.json() {
        let json: Vec<StatusJson> = statuses
            .iter()
            .map(|s| StatusJson {
                reference: &s.reference,
                offset: s.offset,
                total: s.total,
                expected: &s.expected,
                started_at: json_time(s.started_at),
                updated_at: json_time(s.updated_at),
            })
            .collect();
        return print_json(&json);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["REF", "SIZE", "AGE"]);
    for status in &statuses {
        tw.row(&[
            status.reference.clone(),
            human::size(status.offset),
            human::age(status.started_at),
        ]);
    }
    print(&tw.finish())
}
