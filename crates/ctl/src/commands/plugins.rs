//! `cratectl plugins`.

use std::collections::BTreeSet;

use anyhow::Result;
use crated_client::introspection::Plugin;
use serde::Serialize;

use crate::cli::{PluginsCommand, PluginsLsArgs};
use crate::context::Context;
use crate::output::table::TabWriter;
use crate::output::{print, print_json};

#[derive(Serialize)]
struct PluginJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    requires: &'a [String],
    platforms: Vec<String>,
    exports: std::collections::BTreeMap<&'a String, &'a String>,
    capabilities: &'a [String],
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorJson<'a>>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    code: String,
    message: &'a str,
}

/// Runs a `plugins` subcommand.
pub async fn run(ctx: &Context, command: PluginsCommand) -> Result<()> {
    match command {
        PluginsCommand::Ls(args) => list(ctx, args).await,
    }
}

async fn list(ctx: &Context, args: PluginsLsArgs) -> Result<()> {
    let client = ctx.connect().await?;
    let plugins = client.introspection().plugins(&args.filters).await?;
    if args.quiet {
        let ids: String = plugins.iter().map(|p| format!("{}\n", p.id)).collect();
        return print(&ids);
    }
    if ctx.json() {
        let json: Vec<PluginJson> = plugins.iter().map(plugin_json).collect();
        return print_json(&json);
    }
    let text = if args.detailed {
        detailed(&plugins)
    } else {
        table(&plugins)
    };
    print(&text)
}

fn plugin_json(p: &Plugin) -> PluginJson<'_> {
    PluginJson {
        kind: &p.kind,
        id: &p.id,
        requires: &p.requires,
        platforms: platforms(p).into_iter().collect(),
        exports: p.exports.iter().collect(),
        capabilities: &p.capabilities,
        status: p.status().as_str(),
        error: p.init_error.as_ref().map(|e| ErrorJson {
            code: e.code_name(),
            message: &e.message,
        }),
    }
}

/// The distinct platforms of a plugin, sorted, as ctr's `prettyPlatforms`.
fn platforms(p: &Plugin) -> BTreeSet<String> {
    p.platforms.iter().map(ToString::to_string).collect()
}

/// `TYPE ID PLATFORMS STATUS`, as `ctr plugins ls`.
fn table(plugins: &[Plugin]) -> String {
    let mut tw = TabWriter::new(4, 4);
    tw.row(&["TYPE", "ID", "PLATFORMS", "STATUS"]);
    for p in plugins {
        let platforms = platforms(p);
        let platforms = if platforms.is_empty() {
            "-".to_string()
        } else {
            platforms.into_iter().collect::<Vec<_>>().join(",")
        };
        tw.row(&[
            p.kind.as_str(),
            p.id.as_str(),
            &platforms,
            p.status().as_str(),
        ]);
    }
    tw.finish()
}

/// The details of each plugin, as `ctr plugins ls -d`.
fn detailed(plugins: &[Plugin]) -> String {
    let mut tw = TabWriter::new(4, 4);
    for (i, p) in plugins.iter().enumerate() {
        if i > 0 {
            tw.raw("\t\t\t\n");
        }
        tw.raw(&format!("Type:\t {}\n", p.kind));
        tw.raw(&format!("ID:\t {}\n", p.id));
        if !p.requires.is_empty() {
            tw.raw("Requires:\t\n");
            for r in &p.requires {
                tw.raw(&format!("\t {r}\n"));
            }
        }
        let platforms = platforms(p);
        if !platforms.is_empty() {
            let platforms: Vec<String> = platforms.into_iter().collect();
            tw.raw(&format!("Platforms:\t {}\n", platforms.join(",")));
        }
        if !p.exports.is_empty() {
            tw.raw("Exports:\t\n");
            let mut exports: Vec<_> = p.exports.iter().collect();
            exports.sort();
            for (k, v) in exports {
                tw.raw(&format!("\t {k} \t {v}\n"));
            }
        }
        if !p.capabilities.is_empty() {
            tw.raw(&format!("Capabilities:\t {}\n", p.capabilities.join(",")));
        }
        if let Some(err) = &p.init_error {
            tw.raw("Error:\t\n");
            tw.raw(&format!("\t Code:\t {}\n", err.code_name()));
            tw.raw(&format!("\t Message:\t {}\n", err.message));
        }
    }
    tw.finish()
}
