//! `cratectl snapshots`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::Utc;
use crated_client::Client;
use crated_client::api::types::Mount;
use crated_client::diff::CompareOptions;
use crated_client::import_export;
use crated_client::leases::LeaseOptions;
use crated_client::snapshot_tools::{GC_ROOT_LABEL, Tree};
use crated_client::snapshots::{Info, Snapshots};
use crated_client::transfer::Platform;
use futures::StreamExt;
use serde::Serialize;

use super::images_transfer::parse_platform;
use super::{Reported, report};
use crate::args::label_args;
use crate::cli::{SnapshotsArgs, SnapshotsCommand};
use crate::context::Context;
use crate::hints;
use crate::output::table::TabWriter;
use crate::output::{human, print, print_json, print_json_go};

/// Runs a `snapshots` subcommand.
pub async fn run(ctx: &Context, args: SnapshotsArgs) -> Result<()> {
    let client = ctx.connect().await?;
    let snapshots = client.snapshots(args.snapshotter.clone());
    let not_found = |err: crated_client::Error| {
        hints::not_found(
            err,
            &ctx.command_line(&format!("snapshots --snapshotter {} ls", args.snapshotter)),
            "snapshots",
        )
    };
    match args.command {
        SnapshotsCommand::Prepare {
            target,
            mounts,
            key,
            parent,
        } => {
            let labels = HashMap::from([(GC_ROOT_LABEL.to_string(), now())]);
            let created = snapshots
                .prepare(&key, parent.as_deref().unwrap_or_default(), labels)
                .await
                .map_err(not_found)?;
            show_mounts(target.as_deref(), mounts, &created)
        }
        SnapshotsCommand::View {
            target,
            mounts,
            key,
            parent,
        } => {
            let created = snapshots
                .view(&key, parent.as_deref().unwrap_or_default(), HashMap::new())
                .await
                .map_err(not_found)?;
            show_mounts(target.as_deref(), mounts, &created)
        }
        SnapshotsCommand::Commit { name, active } => {
            let labels = HashMap::from([(GC_ROOT_LABEL.to_string(), now())]);
            snapshots
                .commit(&name, &active, labels)
                .await
                .map_err(not_found)?;
            Ok(())
        }
        SnapshotsCommand::Ls { quiet } => list(ctx, &snapshots, quiet).await,
        SnapshotsCommand::Info { key } => {
            let info = snapshots.stat(&key).await.map_err(not_found)?;
            print_json_go(&InfoJson::from(&info))
        }
        SnapshotsCommand::Mounts { target, key } => {
            let mounts = snapshots.mounts(&key).await.map_err(not_found)?;
            print(&mount_commands(&target, &mounts))
        }
        SnapshotsCommand::Rm { keys } => {
            let mut failed = false;
            for key in &keys {
                if let Err(err) = snapshots.remove(key).await {
                    failed = true;
                    report(&anyhow!(not_found(err)).context(format!("failed to remove {key:?}")));
                }
            }
            if failed {
                return Err(Reported.into());
            }
            Ok(())
        }
        SnapshotsCommand::Label { key, labels } => {
            let changes = label_args(&labels);
            let info = if changes.is_empty() {
                snapshots.stat(&key).await
            } else {
                let paths = changes.keys().map(|k| format!("labels.{k}")).collect();
                let labels = changes.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                snapshots.update(&key, labels, paths).await
            }
            .map_err(not_found)?;
            print(&format!("{}\n", human::labels(&info.labels)))
        }
        SnapshotsCommand::Tree => {
            let infos = snapshots.list(&[]).await?;
            print(&Tree::new(&infos).render())
        }
        SnapshotsCommand::Usage { b, keys } => usage(ctx, &snapshots, b, &keys).await,
        SnapshotsCommand::Diff {
            media_type,
            reference,
            keep,
            label,
            descriptor,
            a,
            b,
        } => {
            let mut labels = label_args(&label);
            if keep {
                labels.insert(GC_ROOT_LABEL.to_string(), now());
            }
            let options = CompareOptions {
                media_type,
                reference: reference.unwrap_or_default(),
                labels,
            };
            diff(
                &client,
                &args.snapshotter,
                &a,
                b.as_deref(),
                &options,
                descriptor,
            )
            .await
            .map_err(|e| match e.downcast::<crated_client::Error>() {
                Ok(err) => not_found(err),
                Err(other) => other,
            })
        }
        SnapshotsCommand::Unpack { platform, image } => {
            unpack(ctx, &client, &args.snapshotter, platform.as_deref(), &image).await
        }
    }
}

/// Now, as ctr writes the time into `containerd.io/gc.root`.
fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `mount -t <type> <source> <target> -o <options>` lines, as ctr prints
/// them.
pub fn mount_commands(target: &Path, mounts: &[Mount]) -> String {
    mounts
        .iter()
        .map(|m| {
            format!(
                "mount -t {} {} {} -o {}\n",
                m.r#type,
                m.source,
                if m.target.is_empty() {
                    target.to_path_buf()
                } else {
                    target.join(&m.target)
                }
                .display(),
                m.options.join(",")
            )
        })
        .collect()
}

#[derive(Serialize)]
struct MountJson<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "Source")]
    source: &'a str,
    #[serde(rename = "Target", skip_serializing_if = "str::is_empty")]
    target: &'a str,
    #[serde(rename = "Options")]
    options: &'a [String],
}

fn show_mounts(target: Option<&Path>, as_json: bool, mounts: &[Mount]) -> Result<()> {
    if let Some(target) = target {
        print(&mount_commands(target, mounts))?;
    }
    if as_json {
        let json: Vec<MountJson> = mounts
            .iter()
            .map(|m| MountJson {
                kind: &m.r#type,
                source: &m.source,
                target: &m.target,
                options: &m.options,
            })
            .collect();
        print_json_go(&json)?;
    }
    Ok(())
}

/// `ctr snapshots info`'s JSON: containerd's `snapshots.Info`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InfoJson<'a> {
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    parent: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<&'a String, &'a String>,
    created: String,
    updated: String,
}

impl<'a> From<&'a Info> for InfoJson<'a> {
    fn from(info: &'a Info) -> Self {
        let time = |t: Option<chrono::DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())
        };
        InfoJson {
            kind: info.kind.title(),
            name: &info.name,
            parent: &info.parent,
            labels: info.labels.iter().collect(),
            created: time(info.created_at),
            updated: time(info.updated_at),
        }
    }
}

async fn list(ctx: &Context, snapshots: &Snapshots, quiet: bool) -> Result<()> {
    let infos = snapshots.list(&[]).await?;
    if quiet {
        let keys: String = infos.iter().map(|i| format!("{}\n", i.name)).collect();
        return print(&keys);
    }
    if ctx.json() {
        let json: Vec<InfoJson> = infos.iter().map(InfoJson::from).collect();
        return print_json(&json);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["KEY", "PARENT", "KIND"]);
    for info in &infos {
        tw.row(&[info.name.as_str(), info.parent.as_str(), info.kind.title()]);
    }
    print(&tw.finish())
}

#[derive(Serialize)]
struct UsageJson {
    key: String,
    size: i64,
    inodes: i64,
}

async fn usage(ctx: &Context, snapshots: &Snapshots, bytes: bool, keys: &[String]) -> Result<()> {
    let keys: Vec<String> = if keys.is_empty() {
        snapshots
            .list(&[])
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect()
    } else {
        keys.to_vec()
    };
    let mut rows = Vec::new();
    for key in keys {
        let usage = snapshots
            .usage(&key)
            .await
            .with_context(|| format!("usage of snapshot {key}"))?;
        rows.push(UsageJson {
            key,
            size: usage.size,
            inodes: usage.inodes,
        });
    }
    if ctx.json() {
        return print_json(&rows);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.row(&["KEY", "SIZE", "INODES"]);
    for row in &rows {
        let size = if bytes {
            row.size.to_string()
        } else {
            human::bytes(row.size)
        };
        tw.row(&[row.key.clone(), size, row.inodes.to_string()]);
    }
    print(&tw.finish())
}

/// `snapshots diff`: under a lease that ends with the command, so the
/// layer stays only with `--keep` (a `gc.root` label).
async fn diff(
    client: &Client,
    snapshotter: &str,
    a: &str,
    b: Option<&str>,
    options: &CompareOptions,
    descriptor: bool,
) -> Result<()> {
    let lease = client
        .leases()
        .create(LeaseOptions {
            expires: Some(std::time::Duration::from_secs(3600)),
            ..Default::default()
        })
        .await?;
    let leased = client.with_lease(lease.id.clone());
    let result = async {
        let snapshots = leased.snapshots(snapshotter);
        let desc = match b {
            None => snapshots.diff(a, None, options).await?,
            Some(b) => snapshots.diff(b, Some(a), options).await?,
        };
        if descriptor {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct DescriptorJson<'a> {
                media_type: &'a str,
                digest: &'a str,
                size: i64,
            }
            return print_json_go(&DescriptorJson {
                media_type: &desc.media_type,
                digest: &desc.digest,
                size: desc.size,
            });
        }
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!(
                "refusing to write layer {} to a terminal: redirect stdout or use --descriptor",
                desc.digest
            );
        }
        let mut chunks = leased.content().read(&desc.digest, 0, 0).await?;
        let mut stdout = std::io::stdout().lock();
        while let Some(chunk) = chunks.next().await {
            stdout.write_all(&chunk?).context("writing to stdout")?;
        }
        stdout.flush().context("writing to stdout")
    }
    .await;
    if let Err(err) = client.leases().delete(&lease.id, false).await {
        tracing::warn!(lease = %lease.id, error = %err, "deleting the diff's lease");
    }
    result
}

/// `snapshots unpack`: by image name, or by the digest of an image's
/// target as ctr takes it.
async fn unpack(
    ctx: &Context,
    client: &Client,
    snapshotter: &str,
    platform: Option<&str>,
    image: &str,
) -> Result<()> {
    let platform = platform
        .map(parse_platform)
        .transpose()?
        .unwrap_or_else(Platform::host);
    let record = match client.images().get(image).await {
        Ok(record) => record,
        Err(err) if err.is_not_found() && image.contains(':') => client
            .images()
            .list(&[])
            .await?
            .into_iter()
            .find(|i| i.target.digest == image)
            .ok_or_else(|| hints::not_found(err, &ctx.command_line("images ls"), "images"))?,
        Err(err) => {
            return Err(hints::not_found(
                err,
                &ctx.command_line("images ls"),
                "images",
            ));
        }
    };
    let unpacked = import_export::unpack(client, &record.target.clone(), &platform, snapshotter)
        .await
        .with_context(|| format!("unpacking {}", record.name))?;
    print(&format!(
        "unpacked {} ({}) into {snapshotter}: {} ({} layers applied)\n",
        record.name, unpacked.manifest.digest, unpacked.chain_id, unpacked.applied
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_commands_like_ctr() {
        let mounts = vec![
            Mount {
                r#type: "overlay".into(),
                source: "overlay".into(),
                target: String::new(),
                options: vec!["lowerdir=/a:/b".into(), "upperdir=/u".into()],
            },
            Mount {
                r#type: "bind".into(),
                source: "/src".into(),
                target: "sub".into(),
                options: vec!["ro".into(), "rbind".into()],
            },
        ];
        assert_eq!(
            mount_commands(Path::new("/mnt"), &mounts),
            "mount -t overlay overlay /mnt -o lowerdir=/a:/b,upperdir=/u\n\
             mount -t bind /src /mnt/sub -o ro,rbind\n"
        );
    }

    #[test]
    fn info_json_uses_containerds_field_names() {
        let info = Info {
            name: "k".into(),
            parent: String::new(),
            kind: crated_client::snapshots::Kind::Committed,
            created_at: None,
            updated_at: None,
            labels: HashMap::from([("a".to_string(), "b".to_string())]),
        };
        let json = serde_json::to_value(InfoJson::from(&info)).unwrap();
        assert_eq!(json["Kind"], "Committed");
        assert_eq!(json["Name"], "k");
        assert!(json.get("Parent").is_none());
        assert_eq!(json["Labels"]["a"], "b");
    }
}
