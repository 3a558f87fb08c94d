//! `cratectl images`: list, remove, tag, label and check image records
//! (pull, push, import and export are not here yet).

use std::collections::BTreeMap;

use anyhow::Result;
use crated_client::Client;
use crated_client::images::{self, Image, Platform};
use serde::Serialize;

use super::{Reported, report};
use crate::args::lease_label_args;
use crate::cli::{ImagesArgs, ImagesCommand};
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, json_time, print, print_json};

/// Runs an `images` subcommand.
pub async fn run(ctx: &Context, args: ImagesArgs) -> Result<()> {
    let client = ctx.connect().await?;
    let Some(command) = args.command else {
        // docker's `images`.
        return list(ctx, &client, args.quiet, &[]).await;
    };
    match command {
        ImagesCommand::Ls { quiet, filters } => list(ctx, &client, quiet, &filters).await,
        ImagesCommand::Rm { sync, references } => {
            remove(&client, sync, &references, Missing::Warn).await
        }
        ImagesCommand::Tag {
            force,
            source,
            targets,
        } => tag(ctx, &client, force, &source, &targets).await,
        ImagesCommand::Label {
            replace_all,
            reference,
            labels,
        } => {
            let labels = lease_label_args(&labels);
            let paths: Vec<String> = if replace_all {
                vec!["labels".to_string()]
            } else {
                labels.keys().map(|k| format!("labels.{k}")).collect()
            };
            let image = Image {
                name: reference.clone(),
                labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
                ..Image::default()
            };
            let updated = client
                .images()
                .update(&image, &paths)
                .await
                .map_err(|err| not_found(ctx, err))?;
            let mut pairs: Vec<String> = updated
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.sort();
            print(&format!("{}\n", pairs.join(",")))
        }
        ImagesCommand::Check {
            quiet,
            snapshotter,
            filters,
        } => check(&client, quiet, &snapshotter, &filters).await,
        ImagesCommand::Transfer(command) => {
            super::images_transfer::run(ctx, &client, command).await
        }
    }
}

fn not_found(ctx: &Context, err: crated_client::Error) -> anyhow::Error {
    hints::not_found(err, &ctx.command_line("images ls"), "images")
}

#[derive(Serialize)]
struct ImageRow<'a> {
    name: &'a str,
    media_type: &'a str,
    digest: &'a str,
    size: i64,
    platforms: Vec<String>,
    labels: BTreeMap<&'a String, &'a String>,
    created_at: Option<String>,
}

/// The image's size for this platform: every blob it needs, as containerd's
/// `Image.Size` counts (0 when content is missing).
async fn size_and_platforms(client: &Client, image: &Image) -> (i64, Vec<String>) {
    let content = client.content();
    let platform = Platform::host();
    let size = match images::check(&content, &image.target, &platform).await {
        Ok(check) => check.present.iter().map(|d| d.size).sum(),
        Err(err) => {
            tracing::warn!(image = %image.name, error = %err, "failed calculating size");
            0
        }
    };
    let mut platforms: Vec<String> = match images::platforms(&content, &image.target).await {
        Ok(list) => list.iter().map(Platform::to_string).collect(),
        Err(err) => {
            tracing::warn!(image = %image.name, error = %err, "failed resolving platform");
            Vec::new()
        }
    };
    platforms.sort();
    platforms.dedup();
    (size, platforms)
}

/// Lists images (`images ls`, `images`).
pub async fn list(ctx: &Context, client: &Client, quiet: bool, filters: &[String]) -> Result<()> {
    let images = client.images().list(filters).await?;
    if quiet {
        let names: String = images.iter().map(|i| format!("{}\n", i.name)).collect();
        return print(&names);
    }
    let mut rows = Vec::with_capacity(images.len());
    for image in &images {
        let (size, platforms) = size_and_platforms(client, image).await;
        rows.push(ImageRow {
            name: &image.name,
            media_type: &image.target.media_type,
            digest: &image.target.digest,
            size,
            platforms,
            labels: image.labels.iter().collect(),
            created_at: image.created_at.map(json_time),
        });
    }
    if ctx.json() {
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]);
    for (row, image) in rows.iter().zip(&images) {
        let platforms = if row.platforms.is_empty() {
            "-".to_string()
        } else {
            row.platforms.join(",")
        };
        tw.row(&[
            row.name.to_string(),
            row.media_type.to_string(),
            row.digest.to_string(),
            human::bytes(row.size),
            platforms,
            human::labels_or_dash(&image.labels),
        ]);
    }
    print(&tw.finish())
}

/// What `remove` makes of an image that is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A warning, exit status 0 (ctr's `images rm`).
    Warn,
    /// An error, exit status 1 (docker's and nerdctl's `rmi`).
    Fail,
}

/// Deletes each image; a missing one is a warning or an error as `missing`
/// says. Only the last delete is synchronous.
pub async fn remove(
    client: &Client,
    sync: bool,
    references: &[String],
    missing: Missing,
) -> Result<()> {
    let mut failed = false;
    for (i, reference) in references.iter().enumerate() {
        let last = i + 1 == references.len();
        match client.images().delete(reference, sync && last).await {
            Ok(()) => print(&format!("{reference}\n"))?,
            Err(err) if err.is_not_found() => {
                eprintln!("cratectl: {reference}: image not found");
                failed |= missing == Missing::Fail;
            }
            Err(err) => {
                report(&anyhow::Error::from(err).context(format!("unable to delete {reference}")));
                failed = true;
            }
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

/// Gives image `source` the names `targets` (`images tag`, `tag`).
pub async fn tag(
    ctx: &Context,
    client: &Client,
    force: bool,
    source: &str,
    targets: &[String],
) -> Result<()> {
    let image = client
        .images()
        .get(source)
        .await
        .map_err(|err| not_found(ctx, err))?;
    for target in targets {
        let new = Image {
            name: target.clone(),
            ..image.clone()
        };
        match client.images().create(&new).await {
            Ok(_) => {}
            Err(err) if err.is_already_exists() && force => {
                client.images().delete(target, false).await?;
                client.images().create(&new).await?;
            }
            Err(err) if err.is_already_exists() => {
                return Err(anyhow::anyhow!("{err} (use --force to replace it)"));
            }
            Err(err) => return Err(err.into()),
        }
        print(&format!("{target}\n"))?;
    }
    Ok(())
}

async fn check(client: &Client, quiet: bool, snapshotter: &str, filters: &[String]) -> Result<()> {
    let images = client.images().list(filters).await?;
    let content = client.content();
    let platform = Platform::host();
    let mut tw = TabWriter::new(1, 1);
    if !quiet {
        tw.row(&["REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"]);
    }
    let mut first_error = None;
    for image in &images {
        let (status, size, complete) = match images::check(&content, &image.target, &platform).await
        {
            Ok(check) => {
                let required: i64 = check.required.iter().map(|d| d.size).sum();
                let present: i64 = check.present.iter().map(|d| d.size).sum();
                let complete = check.missing.is_empty() && check.available;
                if check.available {
                    let status = if check.missing.is_empty() {
                        "complete"
                    } else {
                        "incomplete"
                    };
                    (
                        format!(
                            "{status} ({}/{})",
                            check.present.len(),
                            check.required.len()
                        ),
                        format!("{}/{}", human::bytes(present), human::bytes(required)),
                        complete,
                    )
                } else {
                    (
                        format!("unavailable ({}/?)", check.present.len()),
                        format!("{}/?", human::bytes(present)),
                        false,
                    )
                }
            }
            Err(err) => {
                report(
                    &err.clone_message()
                        .context(format!("unable to check {}", image.name)),
                );
                first_error.get_or_insert(());
                ("error".to_string(), "-".to_string(), false)
            }
        };
        let unpacked = match images::resolve(&content, &image.target, &platform).await {
            Ok(resolved) => client
                .snapshots(snapshotter)
                .stat(&resolved.chain_id())
                .await
                .is_ok(),
            Err(_) => false,
        };
        if quiet {
            if complete {
                print(&format!("{}\n", image.name))?;
            }
        } else {
            tw.raw(&format!(
                "{}\t{}\t{}\t{status}\t{size}\t{unpacked}\n",
                image.name, image.target.media_type, image.target.digest
            ));
        }
    }
    if !quiet {
        print(&tw.finish())?;
    }
    if first_error.is_some() {
        return Err(Reported.into());
    }
    Ok(())
}

/// Client errors are not `Clone`; keep the message.
trait CloneMessage {
    fn clone_message(&self) -> anyhow::Error;
}

impl CloneMessage for crated_client::Error {
    fn clone_message(&self) -> anyhow::Error {
        anyhow::anyhow!("{self}")
    }
}
