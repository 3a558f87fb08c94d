//! `cratectl info`.

use anyhow::Result;
use serde::Serialize;

use crate::context::Context;
use crate::output::table::TabWriter;
use crate::output::{json_time, print, print_json};

#[derive(Serialize)]
struct InfoJson {
    uuid: String,
    pid: u64,
    pidns: u64,
    version: String,
    revision: String,
    deprecations: Vec<DeprecationJson>,
}

#[derive(Serialize)]
struct DeprecationJson {
    id: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_occurrence: Option<String>,
}

/// Prints who the server is: uuid, pid, pid namespace, version and the
/// deprecated features it saw in use.
pub async fn run(ctx: &Context) -> Result<()> {
    let client = ctx.connect().await?;
    let server = client.introspection().server().await?;
    let version = client.version().await?;
    let info = InfoJson {
        uuid: server.uuid,
        pid: server.pid,
        pidns: server.pidns,
        version: version.version,
        revision: version.revision,
        deprecations: server
            .deprecations
            .into_iter()
            .map(|d| DeprecationJson {
                id: d.id,
                message: d.message,
                last_occurrence: d.last_occurrence.map(json_time),
            })
            .collect(),
    };
    if ctx.json() {
        return print_json(&info);
    }
    let mut tw = TabWriter::new(1, 1);
    tw.raw("Server:\n");
    tw.raw(&format!("  UUID:\t{}\n", info.uuid));
    tw.raw(&format!("  PID:\t{}\n", info.pid));
    tw.raw(&format!("  PID namespace:\t{}\n", info.pidns));
    tw.raw(&format!("  Version:\t{}\n", info.version));
    tw.raw(&format!("  Revision:\t{}\n", info.revision));
    if info.deprecations.is_empty() {
        tw.raw("Deprecations: none\n");
    } else {
        tw.raw("Deprecations:\n");
        for d in &info.deprecations {
            tw.raw(&format!("  {}:\t{}\n", d.id, d.message));
            if let Some(last) = &d.last_occurrence {
                tw.raw(&format!("    last occurrence:\t{last}\n"));
            }
        }
    }
    print(&tw.finish())
}
