//! The HTTP side of the streaming server: one-time URLs, the SPDY/3.1
//! upgrade and subprotocol negotiation.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use crated_core::Error;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::remotecommand::{self, Outcome, Version, Wanted};
use super::session::Session;
use super::tokens::{Cached, Tokens};
use super::{
    AttachRequest, ExecRequest, PortForwardRequest, Runtime, StreamIo, portforward, websocket,
};

/// The header carrying the offered and chosen subprotocols.
const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The header listing what the server accepts, on a failed negotiation.
const ACCEPTED_HEADER: &str = "x-accepted-stream-protocol-versions";
/// The upgrade token of the SPDY transport.
const SPDY: &str = "SPDY/3.1";

struct State {
    tokens: Tokens,
    runtime: Arc<dyn Runtime>,
}

/// A running streaming server.
pub struct StreamServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StreamServer {
    /// Listens on `addr` (port 0 picks one) and serves `runtime`.
    pub async fn bind(addr: SocketAddr, runtime: Arc<dyn Runtime>) -> crated_core::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::unavailable(format!(
                "binding the CRI streaming server to {addr}: {e} (check stream_server_address and stream_server_port)"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("streaming server address: {e}")))?;
        let state = Arc::new(State {
            tokens: Tokens::default(),
            runtime,
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        tracing::info!(%addr, "CRI streaming server listening");
        Ok(StreamServer { addr, state, task })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self, kind: &str, request: Cached) -> crated_core::Result<String> {
        let token = self.state.tokens.insert(request)?;
        Ok(format!("http://{}/{kind}/{token}", self.addr))
    }

    /// The URL for an Exec RPC, checked as kubelet's server checks it.
    pub fn exec_url(&self, req: ExecRequest) -> crated_core::Result<String> {
        if req.container_id.is_empty() {
            return Err(Error::invalid_argument("exec: container id is empty"));
        }
        if req.cmd.is_empty() {
            return Err(Error::invalid_argument("exec: cmd is empty"));
        }
        check_streams(req.tty, req.stdin, req.stdout, req.stderr)?;
        self.url("exec", Cached::Exec(req))
    }

    /// The URL for an Attach RPC.
    pub fn attach_url(&self, req: AttachRequest) -> crated_core::Result<String> {
        if req.container_id.is_empty() {
            return Err(Error::invalid_argument("attach: container id is empty"));
        }
        check_streams(req.tty, req.stdin, req.stdout, req.stderr)?;
        self.url("attach", Cached::Attach(req))
    }

    /// The URL for a PortForward RPC.
    pub fn port_forward_url(&self, req: PortForwardRequest) -> crated_core::Result<String> {
        if req.sandbox_id.is_empty() {
            return Err(Error::invalid_argument(
                "port forward: pod sandbox id is empty",
            ));
        }
        self.url("portforward", Cached::PortForward(req))
    }
}

fn check_streams(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> crated_core::Result<()> {
    if tty && stderr {
        return Err(Error::invalid_argument(
            "tty and stderr cannot both be true",
        ));
    }
    if !stdin && !stdout && !stderr {
        return Err(Error::invalid_argument(
            "one of stdin, stdout, or stderr must be set",
        ));
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "streaming server accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "streaming connection failed");
            }
        });
    }
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.into())));
    *response.status_mut() = status;
    response
}

/// The client's offered subprotocols, in its order (values may be
/// repeated headers or comma lists).
fn offered(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let Some((kind, token)) = path.split_once('/') else {
        return Ok(plain(StatusCode::NOT_FOUND, "unknown streaming path"));
    };
    let Some(cached) = state.tokens.consume(token) else {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "streaming token not found or expired: ask the runtime for a new URL",
        ));
    };
    let kind_matches = matches!(
        (kind, &cached),
        ("exec", Cached::Exec(_))
            | ("attach", Cached::Attach(_))
            | ("portforward", Cached::PortForward(_))
    );
    if !kind_matches {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "streaming token is for another kind of session",
        ));
    }
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if upgrade.eq_ignore_ascii_case("websocket") {
        return Ok(websocket_upgrade(req, cached, state.runtime.clone()));
    }
    if !upgrade.eq_ignore_ascii_case(SPDY) {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            format!(
                "streaming needs a connection upgrade to {SPDY} or websocket (got {upgrade:?})"
            ),
        ));
    }
    let supported: &[&str] = match cached {
        Cached::PortForward(_) => &[portforward::PROTOCOL],
        _ => &remotecommand::PROTOCOLS,
    };
    let offered = offered(&req);
    let chosen = if offered.is_empty() {
        String::new()
    } else {
        match offered.iter().find(|p| supported.contains(&p.as_str())) {
            Some(p) => p.clone(),
            None => {
                let mut response = plain(
                    StatusCode::FORBIDDEN,
                    format!(
                        "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&supported.join(", ")) {
                    response.headers_mut().insert(ACCEPTED_HEADER, v);
                }
                return Ok(response);
            }
        }
    };
    let on_upgrade = hyper::upgrade::on(req);
    let runtime = state.runtime.clone();
    let protocol = chosen.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => match Session::start(TokioIo::new(upgraded)) {
                Ok(session) => dispatch(session, &protocol, cached, runtime).await,
                Err(e) => tracing::warn!(error = %e, "starting a streaming session"),
            },
            Err(e) => tracing::debug!(error = %e, "streaming upgrade failed"),
        }
    });
    let mut response = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(SPDY));
    if let Ok(v) = HeaderValue::from_str(&chosen)
        && !chosen.is_empty()
    {
        headers.insert(PROTOCOL_HEADER, v);
    }
    Ok(response)
}

/// What an exec or attach session runs once its channels are connected.
type RunFn = Box<dyn FnOnce(StreamIo) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send>;

/// The channels an exec or attach session has and what it runs; `None`
/// for port forwarding.
fn session_runner(cached: Cached, runtime: Arc<dyn Runtime>) -> Option<(Wanted, RunFn)> {
    match cached {
        Cached::PortForward(_) => None,
        Cached::Exec(req) => {
            let wanted = Wanted::new(req.stdin, req.stdout, req.stderr, req.tty);
            let run: RunFn = Box::new(move |io| {
                Box::pin(async move {
                    match runtime.exec(&req, io).await {
                        Ok(status) => Outcome::Finished(Some(status)),
                        Err(e) => Outcome::Failed(e.to_string()),
                    }
                })
            });
            Some((wanted, run))
        }
        Cached::Attach(req) => {
            let wanted = Wanted::new(req.stdin, req.stdout, req.stderr, req.tty);
            let run: RunFn = Box::new(move |io| {
                Box::pin(async move {
                    match runtime.attach(&req, io).await {
                        Ok(()) => Outcome::Finished(None),
                        Err(e) => Outcome::Failed(e.to_string()),
                    }
                })
            });
            Some((wanted, run))
        }
    }
}

async fn dispatch(session: Session, protocol: &str, cached: Cached, runtime: Arc<dyn Runtime>) {
    if let Cached::PortForward(req) = &cached {
        portforward::serve(session, runtime, req.sandbox_id.clone(), req.ports.clone()).await;
        return;
    }
    let version = Version::from_protocol(protocol).unwrap_or(Version::V1);
    if let Some((wanted, run)) = session_runner(cached, runtime) {
        remotecommand::serve(session, version, wanted, run).await;
    }
}

/// Accepts a WebSocket upgrade for an exec or attach session.
fn websocket_upgrade(
    req: Request<Incoming>,
    cached: Cached,
    runtime: Arc<dyn Runtime>,
) -> Response<Full<Bytes>> {
    if matches!(cached, Cached::PortForward(_)) {
        return plain(
            StatusCode::BAD_REQUEST,
            "port forwarding over WebSocket is not served yet: upgrade to SPDY/3.1",
        );
    }
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return plain(
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade without Sec-WebSocket-Key",
        );
    };
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let chosen = if offered.is_empty() {
        None
    } else {
        match offered
            .iter()
            .find(|p| websocket::PROTOCOLS.contains(&p.as_str()))
        {
            Some(p) => Some(p.clone()),
            None => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "none of the WebSocket subprotocols {offered:?} is served; use one of {:?}",
                        websocket::PROTOCOLS
                    ),
                );
            }
        }
    };
    let version = chosen
        .as_deref()
        .and_then(Version::from_protocol)
        .unwrap_or(Version::V1);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Some((wanted, run)) = session_runner(cached, runtime) else {
            return;
        };
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                websocket::serve(ws, version, wanted, run).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let accept = derive_accept_key(key.as_bytes());
    if let Ok(v) = HeaderValue::from_str(&accept) {
        headers.insert("sec-websocket-accept", v);
    }
    if let Some(p) = chosen
        && let Ok(v) = HeaderValue::from_str(&p)
    {
        headers.insert("sec-websocket-protocol", v);
    }
    response
}
