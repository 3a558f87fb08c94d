//! What every command works with: the global options and the connection.

use std::time::Duration;

use anyhow::Result;
use crated_client::{Client, ConnectOptions};

use crate::cli::{Format, GlobalArgs};

/// The global options, and a way to connect.
#[derive(Debug)]
pub struct Context {
    /// The parsed global options.
    pub global: GlobalArgs,
}

impl Context {
    /// A context for `global`.
    pub fn new(global: GlobalArgs) -> Self {
        Context { global }
    }

    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.global.format == Format::Json
    }

    /// The namespace commands work in.
    pub fn namespace(&self) -> &str {
        &self.global.namespace
    }

    /// Connects to the daemon, in the chosen namespace.
    pub async fn connect(&self) -> Result<Client> {
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        let options = ConnectOptions {
            connect_timeout: nonzero(self.global.connect_timeout),
            request_timeout: nonzero(self.global.timeout),
        };
        tracing::debug!(
            address = %self.global.address.display(),
            namespace = %self.global.namespace,
            ?options,
            "connecting"
        );
        let client = Client::connect(&self.global.address, options).await?;
        Ok(client.namespace(self.global.namespace.clone()))
    }

    /// A `cratectl` command line for `args`, with `-n` when the namespace is
    /// not the default, for hints.
    pub fn command_line(&self, args: &str) -> String {
        if self.namespace() == crated_client::DEFAULT_NAMESPACE {
            format!("cratectl {args}")
        } else {
            format!("cratectl -n {} {args}", self.namespace())
        }
    }
}
