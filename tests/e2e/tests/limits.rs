//! Messages over the gRPC size limits answer RESOURCE_EXHAUSTED, the code
//! grpc-go (containerd) sends and its clients expect.
//!
//! **Needs root** (see `crated_e2e::Daemon`).

use std::collections::HashMap;
use std::time::Duration;

use crated_client::{Client, ConnectOptions, ErrorKind};
use crated_e2e::Daemon;

/// With `[grpc] max_recv_message_size = 65536`: a Namespaces.Create with
/// 100 KB of labels (sent by the client library) fails with
/// RESOURCE_EXHAUSTED, not tonic's OUT_OF_RANGE; a 1 MiB `ctr content
/// ingest` chunk fails too (ctr reports only the EOF of its send there, as
/// against containerd); the daemon keeps serving. Needs root.
#[test]
fn oversized_messages_are_resource_exhausted() {
    let mut daemon = Daemon::builder()
        .config_grpc("max_recv_message_size = 65536")
        .start();
    daemon
        .ctr_stdin(&["content", "ingest", "big"], vec![7u8; 1 << 20])
        .fails();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let err = runtime.block_on(async {
        #[allow(clippy::needless_update)]
        let options = ConnectOptions {
            connect_timeout: Some(Duration::from_secs(5)),
            request_timeout: Some(Duration::from_secs(30)),
            ..ConnectOptions::default()
        };
        let client = Client::connect(daemon.socket(), options)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let labels: HashMap<String, String> = (0..50)
            .map(|i| (format!("k{i}"), "v".repeat(2000)))
            .collect();
        client
            .namespaces()
            .create("oversized", labels)
            .await
            .err()
            .unwrap_or_else(|| panic!("a 100 KB request was accepted under a 64 KiB limit"))
    });
    assert_eq!(err.kind(), ErrorKind::ResourceExhausted, "{err}");
    daemon.assert_serving();
}
