//! The client library against a test daemon: a current-thread runtime for
//! a test's async body, and a connection with bounded connect and request
//! times.

use std::time::Duration;

use crated_client::{Client, ConnectOptions};
use crated_testkit::Daemon;

/// A current-thread tokio runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// A client of `daemon` whose requests may take up to `request_timeout`;
/// panics, naming the socket, when it cannot connect.
pub async fn connect_with(daemon: &Daemon, request_timeout: Duration) -> Client {
    // `..default()` keeps this compiling when ConnectOptions grows a field.
    #[allow(clippy::needless_update)]
    let options = ConnectOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        request_timeout: Some(request_timeout),
        ..ConnectOptions::default()
    };
    Client::connect(daemon.socket(), options)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", daemon.socket().display()))
}

/// A client of `daemon` with a 30 s request bound.
pub async fn connect(daemon: &Daemon) -> Client {
    connect_with(daemon, Duration::from_secs(30)).await
}
