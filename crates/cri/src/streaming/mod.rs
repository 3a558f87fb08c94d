//! The CRI streaming server: the HTTP endpoint kubelet (and through it
//! `kubectl exec/attach/port-forward`) is sent to by the Exec, Attach and
//! PortForward RPCs.
//!
//! An RPC caches its request under a one-time token (valid one minute) and
//! answers with `http://<address>/<exec|attach|portforward>/<token>`. The
//! client upgrades that URL to SPDY/3.1 and negotiates a subprotocol:
//! `v4.channel.k8s.io` (and the older `v3`, `v2`, `channel.k8s.io`) for
//! exec and attach, `portforward.k8s.io` for port forwarding. Streams are
//! typed by their `streamtype` header (`error`, `stdin`, `stdout`,
//! `stderr`, `resize`; `data` and `error` per `port`/`requestid` for port
//! forwarding). What runs in the container is behind [`Runtime`].

pub mod client;
mod dictionary;
mod portforward;
mod remotecommand;
mod server;
mod session;
pub mod spdy;
mod tokens;
mod websocket;

use async_trait::async_trait;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

pub use server::StreamServer;

/// What `Exec` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The container.
    pub container_id: String,
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Whether the process gets a terminal.
    pub tty: bool,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client reads stdout.
    pub stdout: bool,
    /// Whether the client reads stderr (never with a terminal).
    pub stderr: bool,
}

/// What `Attach` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// The container.
    pub container_id: String,
    /// Whether the container has a terminal.
    pub tty: bool,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client reads stdout.
    pub stdout: bool,
    /// Whether the client reads stderr.
    pub stderr: bool,
}

/// What `PortForward` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForwardRequest {
    /// The pod sandbox.
    pub sandbox_id: String,
    /// The ports the client may forward (empty: any).
    pub ports: Vec<u16>,
}

/// A terminal size sent on the resize stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The process's side of a session's streams: read stdin from `stdin`,
/// write output to `stdout`/`stderr`, and drop them when done (that ends
/// the client's streams).
#[derive(Debug)]
pub struct StreamIo {
    /// Data the client sends; reads end when the client closes stdin.
    pub stdin: Option<DuplexStream>,
    /// Where stdout goes.
    pub stdout: Option<DuplexStream>,
    /// Where stderr goes.
    pub stderr: Option<DuplexStream>,
    /// Terminal resizes, when there is a terminal.
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
}

/// How a finished exec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process exited with this code.
    Code(i32),
}

/// What the streaming server runs: the CRI plugin implements it over
/// tasks and pod network namespaces.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Runs `req.cmd` in the container with `io`, until it exits.
    async fn exec(&self, req: &ExecRequest, io: StreamIo) -> crated_core::Result<ExitStatus>;
    /// Connects `io` to the container's own process until it exits or the
    /// client goes.
    async fn attach(&self, req: &AttachRequest, io: StreamIo) -> crated_core::Result<()>;
    /// Connects `stream` to `port` on the pod's loopback, in its network
    /// namespace, until either side closes.
    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
        stream: DuplexStream,
    ) -> crated_core::Result<()>;
}
