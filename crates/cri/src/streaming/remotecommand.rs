//! Exec and attach over an upgraded connection (kubelet's remotecommand
//! protocol): wait for the typed streams the request calls for, connect
//! them to the runtime, then report the outcome on the error stream.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::session::{IncomingStream, Session, StreamWriter};
use super::{ExitStatus, StreamIo, TerminalSize};

/// How long the client has to open every stream it should.
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Buffer between a SPDY stream and the runtime's end.
const PIPE_SIZE: usize = 64 * 1024;

/// The remotecommand subprotocols, newest first (the server's preference).
pub const PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// A negotiated remotecommand version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `channel.k8s.io`.
    V1,
    /// `v2.channel.k8s.io`.
    V2,
    /// `v3.channel.k8s.io`: adds the resize stream.
    V3,
    /// `v4.channel.k8s.io`: the error stream carries a JSON Status.
    V4,
    /// `v5.channel.k8s.io` (WebSocket only): adds closing one channel.
    V5,
}

impl Version {
    /// The version named by a negotiated subprotocol ("" is the legacy v1).
    pub fn from_protocol(protocol: &str) -> Option<Version> {
        match protocol {
            "v5.channel.k8s.io" => Some(Version::V5),
            "v4.channel.k8s.io" => Some(Version::V4),
            "v3.channel.k8s.io" => Some(Version::V3),
            "v2.channel.k8s.io" => Some(Version::V2),
            "channel.k8s.io" | "" => Some(Version::V1),
            _ => None,
        }
    }
}

/// Which streams a session has.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// Stdin.
    pub stdin: bool,
    /// Stdout.
    pub stdout: bool,
    /// Stderr.
    pub stderr: bool,
    /// A terminal.
    pub tty: bool,
}

impl Wanted {
    /// The streams of a request with these flags.
    pub fn new(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Wanted {
        Wanted {
            stdin,
            stdout,
            stderr,
            tty,
        }
    }
}

/// The streams a client opened.
#[derive(Default)]
struct Streams {
    error: Option<IncomingStream>,
    stdin: Option<IncomingStream>,
    stdout: Option<IncomingStream>,
    stderr: Option<IncomingStream>,
    resize: Option<IncomingStream>,
}

impl Streams {
    fn complete(&self, wanted: Wanted, version: Version) -> bool {
        self.error.is_some()
            && (!wanted.stdin || self.stdin.is_some())
            && (!wanted.stdout || self.stdout.is_some())
            && (!wanted.stderr || wanted.tty || self.stderr.is_some())
            && (!wanted.tty || version < Version::V3 || self.resize.is_some())
    }
}

/// What a session ended with, for the error stream.
pub enum Outcome {
    /// The process exited (exec) or the attach ended.
    Finished(Option<ExitStatus>),
    /// The runtime failed.
    Failed(String),
}

/// One direction of a session channel going to the client (a SPDY stream
/// or a WebSocket channel).
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Sends `data`; an error means the client is gone.
    async fn send(&self, data: &[u8]) -> Result<(), ()>;
    /// Ends the channel.
    async fn finish(&self);
}

#[async_trait]
impl Sink for StreamWriter {
    async fn send(&self, data: &[u8]) -> Result<(), ()> {
        self.write(data).await.map_err(drop)
    }

    async fn finish(&self) {
        let _ = self.close().await;
    }
}

/// A session's channels, whatever carries them.
#[derive(Default)]
pub struct Endpoints {
    /// Client data for stdin; the channel ends when the client closes it.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// Stdout to the client.
    pub stdout: Option<Arc<dyn Sink>>,
    /// Stderr to the client.
    pub stderr: Option<Arc<dyn Sink>>,
    /// The status channel.
    pub error: Option<Arc<dyn Sink>>,
    /// Resize messages from the client.
    pub resize: Option<mpsc::Receiver<Bytes>>,
}

/// Serves one exec or attach session over SPDY: collects the streams,
/// runs the session, closes the connection.
pub async fn serve<F, Fut>(mut session: Session, version: Version, wanted: Wanted, run: F)
where
    F: FnOnce(StreamIo) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut streams = Streams::default();
    let collected = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        while !streams.complete(wanted, version) {
            let Some(stream) = session.accept().await else {
                return false;
            };
            let kind = stream
                .header("streamtype")
                .unwrap_or("")
                .to_ascii_lowercase();
            let slot = match kind.as_str() {
                "error" => &mut streams.error,
                "stdin" => &mut streams.stdin,
                "stdout" => &mut streams.stdout,
                "stderr" => &mut streams.stderr,
                "resize" => &mut streams.resize,
                _ => {
                    tracing::debug!(streamtype = %kind, "ignoring a stream of unknown type");
                    continue;
                }
            };
            *slot = Some(stream);
        }
        true
    })
    .await
    .unwrap_or(false);
    if !collected {
        tracing::warn!("streaming client did not open its streams in time");
        session.close().await;
        return;
    }
    let sink = |s: Option<IncomingStream>| s.map(|s| Arc::new(s.writer) as Arc<dyn Sink>);
    let endpoints = Endpoints {
        stdin: streams.stdin.take().map(|s| s.data),
        resize: streams.resize.take().map(|s| s.data),
        stdout: sink(streams.stdout.take()),
        stderr: sink(streams.stderr.take()),
        error: sink(streams.error.take()),
    };
    run_session(endpoints, version, run).await;
    session.close().await;
}

/// Connects the channels to the runtime's ends, runs `run`, delivers the
/// output, then writes the status and ends the status channel.
pub async fn run_session<F, Fut>(mut endpoints: Endpoints, version: Version, run: F)
where
    F: FnOnce(StreamIo) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut io = StreamIo {
        stdin: None,
        stdout: None,
        stderr: None,
        resize: None,
    };
    let mut stdin_pump = None;
    if let Some(data) = endpoints.stdin.take() {
        let (ours, theirs) = tokio::io::duplex(PIPE_SIZE);
        io.stdin = Some(theirs);
        stdin_pump = Some(tokio::spawn(pump_in(data, ours)));
    }
    let mut pumps = Vec::new();
    let mut outputs = Vec::new();
    for sink in [endpoints.stdout.take(), endpoints.stderr.take()] {
        let Some(sink) = sink else {
            outputs.push(None);
            continue;
        };
        let (ours, theirs) = tokio::io::duplex(PIPE_SIZE);
        outputs.push(Some(theirs));
        pumps.push(tokio::spawn(pump_out(ours, sink)));
    }
    io.stderr = outputs.pop().flatten();
    io.stdout = outputs.pop().flatten();
    if let Some(data) = endpoints.resize.take() {
        let (tx, rx) = mpsc::channel(8);
        io.resize = Some(rx);
        tokio::spawn(pump_resize(data, tx));
    }

    let outcome = run(io).await;
    // The process is done: what the client still sends is not read, and
    // what the process wrote is delivered before the status.
    if let Some(pump) = stdin_pump {
        pump.abort();
    }
    for pump in pumps {
        let _ = pump.await;
    }
    if let Some(error) = endpoints.error.take() {
        if let Some(text) = status_message(version, &outcome) {
            let _ = error.send(text.as_bytes()).await;
        }
        error.finish().await;
    }
}

/// What the error stream says: a JSON Status on v4, a plain message on
/// older versions (nothing on success).
fn status_message(version: Version, outcome: &Outcome) -> Option<String> {
    let status = match outcome {
        Outcome::Finished(None) | Outcome::Finished(Some(ExitStatus::Code(0))) => {
            json!({"metadata": {}, "status": "Success"})
        }
        Outcome::Finished(Some(ExitStatus::Code(code))) => {
            let message = format!("command terminated with non-zero exit code: exit status {code}");
            if version < Version::V4 {
                return Some(message);
            }
            json!({
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
        Outcome::Failed(err) => {
            let message = format!("error executing command in container: {err}");
            if version < Version::V4 {
                return Some(message);
            }
            json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: {message}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": message}]},
                "code": 500,
            })
        }
    };
    if version < Version::V4 {
        return None;
    }
    Some(status.to_string())
}

/// Client data into the runtime's stdin; end of stream closes it.
async fn pump_in(mut data: mpsc::Receiver<Bytes>, mut sink: DuplexStream) {
    while let Some(chunk) = data.recv().await {
        if sink.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = sink.shutdown().await;
}

/// The runtime's output to the client; the runtime's EOF ends the
/// channel. A client that went away drops our end, failing the runtime's
/// writes.
pub(super) async fn pump_out<R: AsyncRead + Unpin>(mut source: R, sink: Arc<dyn Sink>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sink.send(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    sink.finish().await;
}

/// Decodes the resize stream: consecutive `{"Width":…,"Height":…}`.
async fn pump_resize(mut data: mpsc::Receiver<Bytes>, sizes: mpsc::Sender<TerminalSize>) {
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = data.recv().await {
        pending.extend_from_slice(&chunk);
        let mut consumed = 0;
        let mut values = serde_json::Deserializer::from_slice(&pending).into_iter::<TerminalSize>();
        loop {
            match values.next() {
                Some(Ok(size)) => {
                    consumed = values.byte_offset();
                    if sizes.send(size).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "bad terminal size on the resize stream");
                    return;
                }
                None => {
                    consumed = pending.len();
                    break;
                }
            }
        }
        pending.drain(..consumed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_reports_exit_codes_as_a_status() {
        let text =
            status_message(Version::V4, &Outcome::Finished(Some(ExitStatus::Code(3)))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        let ok = status_message(Version::V4, &Outcome::Finished(Some(ExitStatus::Code(0))));
        assert_eq!(ok.as_deref(), Some(r#"{"metadata":{},"status":"Success"}"#));
    }

    #[test]
    fn older_versions_write_plain_text_and_nothing_on_success() {
        assert_eq!(status_message(Version::V2, &Outcome::Finished(None)), None);
        let text = status_message(Version::V3, &Outcome::Failed("boom".into())).unwrap();
        assert_eq!(text, "error executing command in container: boom");
    }

    #[test]
    fn streams_needed_depend_on_version_and_tty() {
        let tty = Wanted {
            stdin: false,
            stdout: false,
            stderr: true,
            tty: true,
        };
        let streams = Streams::default();
        assert!(!streams.complete(tty, Version::V4));
        assert_eq!(Version::from_protocol(""), Some(Version::V1));
        assert_eq!(Version::from_protocol("v6.channel.k8s.io"), None);
    }
}
