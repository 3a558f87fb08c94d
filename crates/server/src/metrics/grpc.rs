//! gRPC server metrics under the names go-grpc-prometheus gives containerd's:
//! a tower layer on the daemon's gRPC server counts calls started and
//! handled (by code), messages received and sent (gRPC frames in the
//! bodies) and, with `[metrics] grpc_histogram`, the handling time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tonic::body::Body as TonicBody;

/// The streaming methods of the services crated serves; every other
/// method is unary.
const STREAMING: &[(&str, &str, &str)] = &[
    (
        "containerd.services.content.v1.Content",
        "List",
        "server_stream",
    ),
    (
        "containerd.services.content.v1.Content",
        "Read",
        "server_stream",
    ),
    (
        "containerd.services.content.v1.Content",
        "Write",
        "bidi_stream",
    ),
    (
        "containerd.services.containers.v1.Containers",
        "ListStream",
        "server_stream",
    ),
    (
        "containerd.services.events.v1.Events",
        "Subscribe",
        "server_stream",
    ),
    (
        "containerd.services.snapshots.v1.Snapshots",
        "List",
        "server_stream",
    ),
    (
        "containerd.services.streaming.v1.Streaming",
        "Stream",
        "bidi_stream",
    ),
    ("grpc.health.v1.Health", "Watch", "server_stream"),
    (
        "runtime.v1.RuntimeService",
        "GetContainerEvents",
        "server_stream",
    ),
];

/// The gRPC codes by number, as grpc-go names them.
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The name of gRPC status code `code` (Unknown for numbers outside the set).
pub fn code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODES.get(i))
        .copied()
        .unwrap_or("Unknown")
}

/// `(service, method)` of a request path `/<service>/<method>`.
pub fn split_path(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split_once('/').unwrap_or(("unknown", "unknown"))
}

/// The go-grpc-prometheus type of a method.
pub fn method_type(service: &str, method: &str) -> &'static str {
    STREAMING
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map_or("unary", |(_, _, t)| t)
}

/// The counters (and histogram) the layer feeds.
pub struct GrpcMetrics {
    started: IntCounterVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    handling: Option<HistogramVec>,
}

const LABELS: [&str; 3] = ["grpc_type", "grpc_service", "grpc_method"];

impl GrpcMetrics {
    /// Registers the families in `registry`; the handling-time histogram
    /// only with `histogram`.
    pub fn new(registry: &Registry, histogram: bool) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let handled_labels = ["grpc_type", "grpc_service", "grpc_method", "grpc_code"];
        let handling = if histogram {
            let h = HistogramVec::new(
                HistogramOpts::new(
                    "grpc_server_handling_seconds",
                    "Time from a call's start until the server finished it.",
                ),
                &LABELS,
            )?;
            registry.register(Box::new(h.clone()))?;
            Some(h)
        } else {
            None
        };
        Ok(GrpcMetrics {
            started: counter(
                "grpc_server_started_total",
                "Calls started on the server.",
                &LABELS,
            )?,
            handled: counter(
                "grpc_server_handled_total",
                "Calls finished on the server, whatever their code.",
                &handled_labels,
            )?,
            received: counter(
                "grpc_server_msg_received_total",
                "Messages received from clients.",
                &LABELS,
            )?,
            sent: counter(
                "grpc_server_msg_sent_total",
                "Messages sent to clients.",
                &LABELS,
            )?,
            handling,
        })
    }
}

/// One call being counted; a call dropped before its status was seen (the
/// client went away) counts as Canceled.
struct Call {
    metrics: Arc<GrpcMetrics>,
    labels: [String; 3],
    start: Instant,
    finished: AtomicBool,
}

impl Call {
    fn labels(&self) -> [&str; 3] {
        [&self.labels[0], &self.labels[1], &self.labels[2]]
    }

    fn messages(&self, received: bool, n: u64) {
        if n > 0 {
            let c = if received {
                &self.metrics.received
            } else {
                &self.metrics.sent
            };
            c.with_label_values(&self.labels()).inc_by(n);
        }
    }

    fn finish(&self, code: &str) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let [t, s, m] = self.labels();
        self.metrics
            .handled
            .with_label_values(&[t, s, m, code])
            .inc();
        if let Some(h) = &self.metrics.handling {
            h.with_label_values(&self.labels())
                .observe(self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish("Canceled");
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<&'static str> {
    let v = headers.get("grpc-status")?.to_str().ok()?;
    Some(code_name(v.trim().parse().unwrap_or(2)))
}

/// Counts the gRPC frames (a 5-byte prefix, then that many bytes) in a body.
#[derive(Default)]
struct Frames {
    header: [u8; 5],
    have: usize,
    skip: u64,
}

impl Frames {
    /// The number of frames whose prefix completes in `data`.
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut n = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let k = usize::try_from(self.skip).map_or(data.len(), |s| s.min(data.len()));
                self.skip -= k as u64;
                data = &data[k..];
                continue;
            }
            let k = (5 - self.have).min(data.len());
            self.header[self.have..self.have + k].copy_from_slice(&data[..k]);
            self.have += k;
            data = &data[k..];
            if self.have == 5 {
                n += 1;
                let [_, a, b, c, d] = self.header;
                self.skip = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.have = 0;
            }
        }
        n
    }
}

/// A request or response body that counts its messages (and, for a
/// response, reads the status from its trailers).
struct Counted<B> {
    inner: Pin<Box<B>>,
    call: Arc<Call>,
    received: bool,
    frames: Frames,
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = this.frames.feed(data.chunk());
                    this.call.messages(this.received, n);
                } else if let Some(trailers) = frame.trailers_ref()
                    && !this.received
                {
                    this.call.finish(status_of(trailers).unwrap_or("Unknown"));
                }
            }
            Poll::Ready(None) if !this.received => this.call.finish("Unknown"),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The tower layer for `tonic::transport::Server::layer`.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Arc<GrpcMetrics>,
}

impl GrpcMetricsLayer {
    /// A layer feeding `metrics`.
    pub fn new(metrics: Arc<GrpcMetrics>) -> Self {
        GrpcMetricsLayer { metrics }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service the layer wraps around the gRPC routes.
#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, ResBody> tower::Service<http::Request<TonicBody>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<TonicBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<TonicBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<TonicBody>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let kind = method_type(service, method);
        let call = Arc::new(Call {
            metrics: self.metrics.clone(),
            labels: [kind.to_owned(), service.to_owned(), method.to_owned()],
            start: Instant::now(),
            finished: AtomicBool::new(false),
        });
        self.metrics.started.with_label_values(&call.labels()).inc();
        let counted = call.clone();
        let req = req.map(move |b| {
            TonicBody::new(Counted {
                inner: Box::pin(b),
                call: counted,
                received: true,
                frames: Frames::default(),
            })
        });
        let future = self.inner.call(req);
        Box::pin(async move {
            let resp = future.await?;
            if let Some(code) = status_of(resp.headers()) {
                call.finish(code);
            }
            Ok(resp.map(|b| {
                TonicBody::new(Counted {
                    inner: Box::pin(b),
                    call,
                    received: false,
                    frames: Frames::default(),
                })
            }))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "grpc_tests.rs"]
mod tests;
