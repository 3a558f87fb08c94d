//! The endpoint's HTTP/1 server: `GET /v1/metrics` (containerd's path);
//! anything else is 404, other methods 405.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use crated_core::Error;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Endpoint;

/// containerd's path for the metrics.
pub const PATH: &str = "/v1/metrics";
/// The text exposition format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the endpoint's TCP listener at `address` (`host:port`).
pub async fn bind(address: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(address).await.map_err(|e| {
        Error::unavailable(format!(
            "listening for metrics on {address:?} ([metrics] address): {e}; choose a free \
             host:port or leave it empty"
        ))
    })
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(text.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn handle<B>(
    req: Request<B>,
    endpoint: Arc<Endpoint>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != PATH {
        return Ok(plain(StatusCode::NOT_FOUND, "404 page not found\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: the metrics answer GET\n",
        ));
    }
    Ok(match endpoint.render().await {
        Ok(body) => {
            let mut response = plain(StatusCode::OK, body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(TEXT_FORMAT),
            );
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("collecting metrics failed: {e}\n"),
            )
        }
    })
}

/// Serves `endpoint` on `listener` until `shutdown` resolves; open
/// connections are closed then (the set that holds them aborts them).
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (conn, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let endpoint = endpoint.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, endpoint.clone()));
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "metrics connection failed");
            }
        });
    }
}
