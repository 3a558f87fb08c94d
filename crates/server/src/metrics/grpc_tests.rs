use std::convert::Infallible;

use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::metrics::testing::sample;

/// A gRPC frame holding `len` bytes.
fn frame(len: u32) -> Vec<u8> {
    let mut f = vec![0u8];
    f.extend(len.to_be_bytes());
    f.extend(std::iter::repeat_n(7u8, len as usize));
    f
}

#[test]
fn frames_are_counted_across_chunk_boundaries() {
    let mut data = frame(3);
    data.extend(frame(0));
    data.extend(frame(70_000));
    let mut whole = Frames::default();
    assert_eq!(whole.feed(&data), 3);
    let mut split = Frames::default();
    let counted: u64 = data.chunks(2).map(|c| split.feed(c)).sum();
    assert_eq!(counted, 3);
}

#[test]
fn paths_codes_and_types_as_go_grpc_prometheus_names_them() {
    assert_eq!(
        split_path("/containerd.services.tasks.v1.Tasks/Create"),
        ("containerd.services.tasks.v1.Tasks", "Create")
    );
    assert_eq!(split_path("nonsense"), ("unknown", "unknown"));
    assert_eq!(code_name(0), "OK");
    assert_eq!(code_name(5), "NotFound");
    assert_eq!(code_name(16), "Unauthenticated");
    assert_eq!(code_name(99), "Unknown");
    assert_eq!(
        method_type("containerd.services.content.v1.Content", "Write"),
        "bidi_stream"
    );
    assert_eq!(
        method_type("containerd.services.events.v1.Events", "Subscribe"),
        "server_stream"
    );
    assert_eq!(
        method_type("containerd.services.version.v1.Version", "Version"),
        "unary"
    );
}

/// A handler answering with `status` in its trailers after one message, or,
/// for a non-zero status, a trailers-only answer (status in the headers),
/// as tonic sends errors.
fn handler(
    status: i32,
) -> impl tower::Service<
    http::Request<TonicBody>,
    Response = http::Response<TonicBody>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |req: http::Request<TonicBody>| async move {
        // Read the request, as a handler does.
        let _ = req.into_body().collect().await;
        let response = if status == 0 {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from(frame(4)))),
                Ok(Frame::trailers(trailers)),
            ];
            http::Response::new(TonicBody::new(http_body_util::StreamBody::new(
                futures::stream::iter(frames),
            )))
        } else {
            let mut r = http::Response::new(TonicBody::empty());
            r.headers_mut()
                .insert("grpc-status", http::HeaderValue::from(status));
            r
        };
        Ok::<_, Infallible>(response)
    })
}

async fn call(
    svc: &mut (
             impl Service<
        http::Request<TonicBody>,
        Response = http::Response<TonicBody>,
        Error = Infallible,
    > + Clone
         ),
    path: &str,
) {
    let req = http::Request::builder()
        .uri(format!("http://localhost{path}"))
        .body(TonicBody::new(http_body_util::Full::new(Bytes::from(
            frame(2),
        ))))
        .unwrap();
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    let _ = resp.into_body().collect().await;
}

fn render(registry: &Registry) -> String {
    use prometheus::Encoder as _;
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_layer_counts_calls_messages_and_codes() {
    let registry = Registry::new();
    let metrics = Arc::new(GrpcMetrics::new(&registry, true).unwrap());
    let layer = GrpcMetricsLayer::new(metrics);
    let mut ok = layer.layer(handler(0));
    let mut not_found = layer.layer(handler(5));
    let version = "/containerd.services.version.v1.Version/Version";
    let get = "/containerd.services.containers.v1.Containers/Get";
    call(&mut ok, version).await;
    call(&mut ok, version).await;
    call(&mut not_found, get).await;
    let text = render(&registry);
    let v = [
        ("grpc_type", "unary"),
        ("grpc_service", "containerd.services.version.v1.Version"),
        ("grpc_method", "Version"),
    ];
    assert_eq!(
        sample(&text, "grpc_server_started_total", &v),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_server_msg_received_total", &v),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_server_msg_sent_total", &v),
        Some(2.0),
        "{text}"
    );
    let mut handled = v.to_vec();
    handled.push(("grpc_code", "OK"));
    assert_eq!(
        sample(&text, "grpc_server_handled_total", &handled),
        Some(2.0),
        "{text}"
    );
    let g = [
        ("grpc_method", "Get"),
        ("grpc_code", "NotFound"),
        (
            "grpc_service",
            "containerd.services.containers.v1.Containers",
        ),
    ];
    assert_eq!(
        sample(&text, "grpc_server_handled_total", &g),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("grpc_server_handling_seconds_count{grpc_method=\"Version\""),
        "{text}"
    );
}

#[tokio::test]
async fn no_histogram_unless_asked_and_a_dropped_call_is_canceled() {
    let registry = Registry::new();
    let metrics = Arc::new(GrpcMetrics::new(&registry, false).unwrap());
    let mut svc = GrpcMetricsLayer::new(metrics).layer(handler(0));
    let req = http::Request::builder()
        .uri("http://localhost/containerd.services.events.v1.Events/Subscribe")
        .body(TonicBody::empty())
        .unwrap();
    // The response body is dropped unread: the client went away.
    drop(svc.ready().await.unwrap().call(req).await.unwrap());
    let text = render(&registry);
    assert!(!text.contains("grpc_server_handling_seconds"), "{text}");
    let c = [
        ("grpc_type", "server_stream"),
        ("grpc_method", "Subscribe"),
        ("grpc_code", "Canceled"),
    ];
    assert_eq!(
        sample(&text, "grpc_server_handled_total", &c),
        Some(1.0),
        "{text}"
    );
}
