//! `cratectl version`.

use anyhow::Result;
use serde::Serialize;

use crate::context::Context;
use crate::output::{print, print_json};

/// The revision cratectl was built from, if the build said.
const REVISION: &str = match option_env!("CRATED_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

#[derive(Serialize)]
struct VersionJson {
    client: ClientVersion,
    server: ServerVersion,
}

#[derive(Serialize)]
struct ClientVersion {
    version: &'static str,
    revision: &'static str,
}

#[derive(Serialize)]
struct ServerVersion {
    version: String,
    revision: String,
    uuid: String,
}

/// Prints the client's version, then the server's, like `ctr version`.
pub async fn run(ctx: &Context) -> Result<()> {
    let client_version = ClientVersion {
        version: env!("CARGO_PKG_VERSION"),
        revision: REVISION,
    };
    if !ctx.json() {
        print(&format!(
            "Client:\n  Version:  {}\n  Revision: {}\n\n",
            client_version.version, client_version.revision
        ))?;
    }
    let client = ctx.connect().await?;
    let version = client.version().await?;
    let server = client.introspection().server().await?;
    let server = ServerVersion {
        version: version.version,
        revision: version.revision,
        uuid: server.uuid,
    };
    if ctx.json() {
        return print_json(&VersionJson {
            client: client_version,
            server,
        });
    }
    print(&format!(
        "Server:\n  Version:  {}\n  Revision: {}\n  UUID: {}\n",
        server.version, server.revision, server.uuid
    ))
}
