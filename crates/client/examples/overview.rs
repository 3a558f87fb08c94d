//! Prints an overview of a running daemon: version, namespaces, and the
//! blobs and leases of one namespace.
//!
//! ```text
//! cargo run -p crated-client --example overview -- /run/crated/crated.sock default
//! ```

use std::time::Duration;

use crated_client::{Client, ConnectOptions};

#[tokio::main]
async fn main() -> Result<(), crated_client::Error> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| "/run/crated/crated.sock".to_string());
    let namespace = args.next().unwrap_or_else(|| "default".to_string());

    let options = ConnectOptions {
        request_timeout: Some(Duration::from_secs(10)),
        ..ConnectOptions::default()
    };
    let client = Client::connect(&address, options).await?;
    let version = client.version().await?;
    let server = client.introspection().server().await?;
    println!(
        "{address}: version {} revision {} uuid {}",
        version.version, version.revision, server.uuid
    );

    for ns in client.namespaces().list().await? {
        println!("namespace {} ({} labels)", ns.name, ns.labels.len());
    }

    let ns = client.namespace(namespace);
    for info in ns.content().list(&[]).await? {
        println!("blob {} {} bytes", info.digest, info.size);
    }
    for lease in ns.leases().list(&[]).await? {
        println!("lease {} created {}", lease.id, lease.created_at);
    }
    Ok(())
}
