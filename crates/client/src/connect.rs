//! Dialling the daemon's unix socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::error::Error as _;

use crated_api::services::v1::version_client::VersionClient;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result, error_chain};

/// How long [`ConnectOptions::default`] waits for the socket to answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// How long to wait for the socket to accept the connection and the
    /// HTTP/2 handshake to finish. `None` waits forever.
    pub connect_timeout: Option<Duration>,
    /// How long to wait for the answer to each request: the whole call for
    /// unary requests (also sent to the daemon as the gRPC deadline), the
    /// opening of a stream, and each round trip of a content write. Event
    /// subscriptions never time out. `None` waits forever.
    pub request_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            request_timeout: None,
        }
    }
}

/// Opens a gRPC channel over the unix socket at `address` and checks that
/// a gRPC server answers on it, so a daemon that is not running, or a socket
/// nobody serves, is reported here and not on the first request.
pub(crate) async fn connect_channel(address: &Path, options: &ConnectOptions) -> Result<Channel> {
    let connect_error = |reason: String| Error::Connect {
        address: address.to_path_buf(),
        reason,
    };
    let connecting = async {
        // The URI is required by tonic but unused: the connector ignores it.
        let endpoint = Endpoint::from_static("http://localhost");
        let path: PathBuf = address.to_path_buf();
        let connector = tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = UnixStream::connect(&path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        });
        let channel = endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|err| match error_chain(&err) {
                chain if chain.is_empty() => connect_error(err.to_string()),
                chain => connect_error(chain),
            })?;
        probe(&channel).await.map_err(connect_error)?;
        Ok(channel)
    };
    match options.connect_timeout {
        Some(timeout) => tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| connect_error(format!("no gRPC answer within {timeout:?}")))?,
        None => connecting.await,
    }
}

/// Asks for the version: any answer from the server, even an error status,
/// shows that it speaks gRPC; only a transport failure counts against it.
async fn probe(channel: &Channel) -> std::result::Result<(), String> {
    let mut version = VersionClient::new(channel.clone());
    match version.version(tonic::Request::new(())).await {
        Err(status) if status.source().is_some() => Err(status.message().to_string()),
        Ok(_) | Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_names_the_path_and_the_fix() {
        let address = Path::new("/nonexistent/crated-test.sock");
        let err = connect_channel(address, &ConnectOptions::default())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/crated-test.sock"), "{err}");
        assert!(err.contains("No such file or directory"), "{err}");
        assert!(err.contains("daemon is running"), "{err}");
    }
}
