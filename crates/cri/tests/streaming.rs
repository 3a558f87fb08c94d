//! The streaming server driven over real TCP by a SPDY/3.1 client written
//! from the protocol (kubelet's remotecommand and port-forward
//! subprotocols), against a runtime double whose behaviour is observable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use crated_cri::streaming::client::{self, SpdyClient};
use crated_cri::streaming::{
    AttachRequest, ExecRequest, ExitStatus, PortForwardRequest, Runtime, StreamIo, StreamServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;

/// exec `upper [code]`: stdin upper-cased to stdout, "done" to stderr,
/// exit `code`. exec `sizes`: the first two terminal sizes to stdout.
/// attach: stdin echoed to stdout. port_forward: a loopback TCP port.
struct Double;

#[async_trait]
impl Runtime for Double {
    async fn exec(&self, req: &ExecRequest, mut io: StreamIo) -> crated_core::Result<ExitStatus> {
        match req.cmd[0].as_str() {
            "upper" => {
                let mut input = Vec::new();
                if let Some(stdin) = io.stdin.as_mut() {
                    stdin.read_to_end(&mut input).await.unwrap();
                }
                if let Some(out) = io.stdout.as_mut() {
                    out.write_all(&input.to_ascii_uppercase()).await.unwrap();
                }
                if let Some(err) = io.stderr.as_mut() {
                    err.write_all(b"done").await.unwrap();
                }
                let code = req.cmd.get(1).map_or(0, |c| c.parse().unwrap());
                Ok(ExitStatus::Code(code))
            }
            "sizes" => {
                let mut resize = io.resize.take().expect("a resize stream with a tty");
                let mut text = String::new();
                for _ in 0..2 {
                    let size = resize.recv().await.unwrap();
                    text.push_str(&format!("{}x{}\n", size.width, size.height));
                }
                io.stdout
                    .as_mut()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .await
                    .unwrap();
                Ok(ExitStatus::Code(0))
            }
            other => Err(crated_core::Error::not_found(format!(
                "executable {other:?}"
            ))),
        }
    }

    async fn attach(&self, _req: &AttachRequest, mut io: StreamIo) -> crated_core::Result<()> {
        let (Some(mut stdin), Some(mut stdout)) = (io.stdin.take(), io.stdout.take()) else {
            return Err(crated_core::Error::invalid_argument(
                "attach needs stdin and stdout",
            ));
        };
        tokio::io::copy(&mut stdin, &mut stdout).await.unwrap();
        Ok(())
    }

    async fn port_forward(
        &self,
        _sandbox_id: &str,
        port: u16,
        mut stream: DuplexStream,
    ) -> crated_core::Result<()> {
        let mut conn = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| crated_core::Error::unavailable(format!("connecting to {port}: {e}")))?;
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut conn).await;
        Ok(())
    }
}

async fn server() -> StreamServer {
    StreamServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Double))
        .await
        .unwrap()
}

/// Sends the HTTP/1.1 upgrade request; returns the status, the response
/// head and the connection.
async fn upgrade(url: &str, protocols: &[&str], upgrade_to: &str) -> (u16, String, TcpStream) {
    let up = client::upgrade(url, protocols, upgrade_to).await.unwrap();
    (up.status, up.head, up.conn)
}

/// The library's SPDY client, panicking on errors as a test does.
struct Client(SpdyClient);

impl Client {
    fn new(conn: TcpStream) -> Client {
        Client(SpdyClient::new(conn).unwrap())
    }

    async fn open(&mut self, id: u32, headers: &[(&str, &str)]) {
        self.0.open(id, headers).await.unwrap();
    }

    async fn send(&mut self, id: u32, data: &[u8], fin: bool) {
        self.0.send(id, data, fin).await.unwrap();
    }

    async fn until_finished(&mut self, ids: &[u32]) {
        self.0
            .until_finished(ids, std::time::Duration::from_secs(20))
            .await
            .unwrap();
    }

    fn text(&self, id: u32) -> String {
        self.0.text(id)
    }
}

fn exec(cmd: &[&str], tty: bool, stderr: bool) -> ExecRequest {
    ExecRequest {
        container_id: "c1".into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin: true,
        stdout: true,
        stderr,
    }
}

#[tokio::test]
async fn exec_v4_streams_stdio_and_reports_the_exit_code() {
    let server = server().await;
    let url = server.exec_url(exec(&["upper", "3"], false, true)).unwrap();
    let (status, head, conn) = upgrade(
        &url,
        &["v4.channel.k8s.io", "v3.channel.k8s.io"],
        "SPDY/3.1",
    )
    .await;
    assert_eq!(status, 101, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io")
    );
    let mut client = Client::new(conn);
    client.open(1, &[("streamtype", "error")]).await;
    client.open(3, &[("streamtype", "stdin")]).await;
    client.open(5, &[("streamtype", "stdout")]).await;
    client.open(7, &[("streamtype", "stderr")]).await;
    client.send(3, b"hello ", false).await;
    client.send(3, b"world\n", true).await;
    client.until_finished(&[1, 5, 7]).await;
    assert_eq!(client.text(5), "HELLO WORLD\n");
    assert_eq!(client.text(7), "done");
    let status: serde_json::Value = serde_json::from_str(&client.text(1)).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
}

#[tokio::test]
async fn exec_success_and_runtime_errors_on_the_error_stream() {
    let server = server().await;
    let url = server.exec_url(exec(&["upper"], false, false)).unwrap();
    let (_, _, conn) = upgrade(&url, &["v4.channel.k8s.io"], "SPDY/3.1").await;
    let mut client = Client::new(conn);
    client.open(1, &[("streamtype", "error")]).await;
    client.open(3, &[("streamtype", "stdin")]).await;
    client.open(5, &[("streamtype", "stdout")]).await;
    client.send(3, b"", true).await;
    client.until_finished(&[1, 5]).await;
    assert_eq!(client.text(1), r#"{"metadata":{},"status":"Success"}"#);

    let url = server.exec_url(exec(&["missing"], false, false)).unwrap();
    let (_, _, conn) = upgrade(&url, &["channel.k8s.io"], "SPDY/3.1").await;
    let mut client = Client::new(conn);
    client.open(1, &[("streamtype", "error")]).await;
    client.open(3, &[("streamtype", "stdin")]).await;
    client.open(5, &[("streamtype", "stdout")]).await;
    client.until_finished(&[1]).await;
    let text = client.text(1);
    assert!(
        text.starts_with("error executing command in container:"),
        "{text}"
    );
    assert!(text.contains("not found"), "{text}");
}

#[tokio::test]
async fn a_tty_session_gets_terminal_resizes() {
    let server = server().await;
    let url = server.exec_url(exec(&["sizes"], true, false)).unwrap();
    let (_, _, conn) = upgrade(&url, &["v4.channel.k8s.io"], "SPDY/3.1").await;
    let mut client = Client::new(conn);
    client.open(1, &[("streamtype", "error")]).await;
    client.open(3, &[("streamtype", "stdin")]).await;
    client.open(5, &[("streamtype", "stdout")]).await;
    client.open(7, &[("streamtype", "resize")]).await;
    client
        .send(7, br#"{"Width":80,"Height":24}{"Wid"#, false)
        .await;
    client.send(7, br#"th":120,"Height":40}"#, false).await;
    client.until_finished(&[1, 5]).await;
    assert_eq!(client.text(5), "80x24\n120x40\n");
}

#[tokio::test]
async fn attach_connects_the_containers_stdio() {
    let server = server().await;
    let url = server
        .attach_url(AttachRequest {
            container_id: "c1".into(),
            tty: false,
            stdin: true,
            stdout: true,
            stderr: false,
        })
        .unwrap();
    let (_, _, conn) = upgrade(&url, &["v4.channel.k8s.io"], "SPDY/3.1").await;
    let mut client = Client::new(conn);
    client.open(1, &[("streamtype", "error")]).await;
    client.open(3, &[("streamtype", "stdin")]).await;
    client.open(5, &[("streamtype", "stdout")]).await;
    client.send(3, b"echo me", true).await;
    client.until_finished(&[1, 5]).await;
    assert_eq!(client.text(5), "echo me");
    assert_eq!(client.text(1), r#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test]
async fn port_forward_reaches_a_server_and_refuses_other_ports() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        conn.write_all(b"pong:").await.unwrap();
        conn.write_all(&buf).await.unwrap();
    });
    let server = server().await;
    let url = server
        .port_forward_url(PortForwardRequest {
            sandbox_id: "pod1".into(),
            ports: vec![port],
        })
        .unwrap();
    let (status, head, conn) = upgrade(&url, &["portforward.k8s.io"], "SPDY/3.1").await;
    assert_eq!(status, 101, "{head}");
    let mut client = Client::new(conn);
    let p = port.to_string();
    client
        .open(
            1,
            &[("streamtype", "error"), ("port", &p), ("requestid", "0")],
        )
        .await;
    client
        .open(
            3,
            &[("streamtype", "data"), ("port", &p), ("requestid", "0")],
        )
        .await;
    client.send(3, b"ping", false).await;
    client.until_finished(&[3]).await;
    assert_eq!(client.text(3), "pong:ping");

    client
        .open(
            5,
            &[("streamtype", "error"), ("port", "1"), ("requestid", "1")],
        )
        .await;
    client
        .open(
            7,
            &[("streamtype", "data"), ("port", "1"), ("requestid", "1")],
        )
        .await;
    client.until_finished(&[5]).await;
    assert_eq!(client.text(5), "port 1 was not requested for forwarding");
}

#[tokio::test]
async fn urls_are_single_use_and_upgrades_are_checked() {
    let server = server().await;
    let url = server.exec_url(exec(&["upper"], false, false)).unwrap();
    let (status, _, _) = upgrade(&url, &["v9.channel.k8s.io"], "SPDY/3.1").await;
    assert_eq!(status, 403);
    let (status, _, _) = upgrade(&url, &["v4.channel.k8s.io"], "SPDY/3.1").await;
    assert_eq!(status, 404, "a token is consumed by its first use");

    let url = server.exec_url(exec(&["upper"], false, false)).unwrap();
    let (status, head, _) = upgrade(&url, &["v4.channel.k8s.io"], "h2c").await;
    assert_eq!(status, 400, "{head}");

    let err = server.exec_url(exec(&["upper"], true, true)).unwrap_err();
    assert_eq!(err.kind(), crated_core::ErrorKind::InvalidArgument);
    let mut none = exec(&["upper"], false, false);
    none.stdin = false;
    none.stdout = false;
    assert!(server.exec_url(none).is_err());
}

/// A WebSocket client session: what each channel received, in order, and
/// the v5 close signals.
async fn websocket_session(
    url: &str,
    protocol: &str,
    send: Vec<Vec<u8>>,
) -> (String, HashMap<u8, Vec<u8>>, Vec<u8>) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let ws_url = url.replace("http://", "ws://");
    let host = ws_url
        .strip_prefix("ws://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut request = ws_url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let tcp = TcpStream::connect(host).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    for message in send {
        ws.send(Message::Binary(message.into())).await.unwrap();
    }
    let mut channels: HashMap<u8, Vec<u8>> = HashMap::new();
    let mut closed = Vec::new();
    while let Some(message) = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
        .await
        .expect("server went quiet")
    {
        match message.unwrap() {
            Message::Binary(data) => {
                let (&ch, rest) = data.split_first().unwrap();
                if ch == 255 {
                    closed.push(rest[0]);
                } else {
                    channels.entry(ch).or_default().extend_from_slice(rest);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    (chosen, channels, closed)
}

#[tokio::test]
async fn exec_over_websocket_v5_closes_stdin_and_reports_the_exit_code() {
    let server = server().await;
    let url = server.exec_url(exec(&["upper", "3"], false, true)).unwrap();
    let (chosen, channels, closed) = websocket_session(
        &url,
        "v5.channel.k8s.io, v4.channel.k8s.io",
        vec![b"\x00hi there".to_vec(), vec![255, 0]],
    )
    .await;
    assert_eq!(chosen, "v5.channel.k8s.io");
    assert_eq!(channels[&1], b"HI THERE");
    assert_eq!(channels[&2], b"done");
    let status: serde_json::Value = serde_json::from_slice(&channels[&3]).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert!(
        closed.contains(&1) && closed.contains(&2) && closed.contains(&3),
        "{closed:?}"
    );
}

#[tokio::test]
async fn exec_over_websocket_v4_without_stdin() {
    let server = server().await;
    let mut req = exec(&["upper"], false, false);
    req.stdin = false;
    let url = server.exec_url(req).unwrap();
    let (chosen, channels, closed) = websocket_session(&url, "v4.channel.k8s.io", Vec::new()).await;
    assert_eq!(chosen, "v4.channel.k8s.io");
    assert_eq!(
        String::from_utf8_lossy(&channels[&3]),
        r#"{"metadata":{},"status":"Success"}"#
    );
    assert!(closed.is_empty(), "v4 has no close signal: {closed:?}");
}
