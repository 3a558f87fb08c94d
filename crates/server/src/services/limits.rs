//! The status code of messages over the size limits. tonic answers
//! OUT_OF_RANGE for a message larger than `max_decoding_message_size` (or a
//! reply larger than `max_encoding_message_size`); grpc-go, and so
//! containerd and the clients written for it, answer RESOURCE_EXHAUSTED.
//! [`SizeLimitCode`] wraps a service and rewrites exactly those statuses,
//! in the response headers (a trailers-only reply, e.g. a unary request
//! that was too large) and in the trailers (a stream that failed on the
//! way).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::Bytes;
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::Service;

/// What tonic's codec says when a message is over a limit (`decoded` or
/// `encoded message length too large`), as sent in `grpc-message`
/// (percent-encoded) or plain.
const TOO_LARGE: [&[u8]; 2] = [
    b"message length too large",
    b"message%20length%20too%20large",
];

fn too_large(message: &[u8]) -> bool {
    TOO_LARGE
        .iter()
        .any(|needle| message.windows(needle.len()).any(|w| w == *needle))
}

/// Rewrites an OUT_OF_RANGE status about a message size to
/// RESOURCE_EXHAUSTED in `headers` (response headers or trailers).
fn rewrite(headers: &mut HeaderMap) {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    let is_size_error = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
        && headers
            .get("grpc-message")
            .is_some_and(|m| too_large(m.as_bytes()));
    if is_size_error {
        let code = (Code::ResourceExhausted as i32).to_string();
        if let Ok(value) = HeaderValue::from_str(&code) {
            headers.insert("grpc-status", value);
        }
    }
}

/// A gRPC service whose size-limit errors carry grpc-go's code.
#[derive(Debug, Clone)]
pub struct SizeLimitCode<S>(pub S);

impl<S: NamedService> NamedService for SizeLimitCode<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for SizeLimitCode<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let reply = self.0.call(req);
        Box::pin(async move {
            let mut response = reply.await?;
            rewrite(response.headers_mut());
            Ok(response.map(|body| Body::new(RewrittenTrailers(body))))
        })
    }
}

/// A response body whose trailers go through [`rewrite`].
struct RewrittenTrailers(Body);

impl http_body::Body for RewrittenTrailers {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.0).poll_frame(cx);
        if let Poll::Ready(Some(Ok(mut frame))) = polled {
            if let Some(trailers) = frame.trailers_mut() {
                rewrite(trailers);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(code: Code, message: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "grpc-status",
            HeaderValue::from_str(&(code as i32).to_string()).unwrap(),
        );
        h.insert("grpc-message", HeaderValue::from_str(message).unwrap());
        h
    }

    #[test]
    fn only_size_errors_become_resource_exhausted() {
        let mut h = headers(
            Code::OutOfRange,
            "Error,%20decoded%20message%20length%20too%20large:%20found%201048586%20bytes",
        );
        rewrite(&mut h);
        assert_eq!(h["grpc-status"], "8");
        let mut h = headers(Code::OutOfRange, "offset 99 is past the end");
        rewrite(&mut h);
        assert_eq!(h["grpc-status"], "11", "other OUT_OF_RANGE errors stay");
        let mut h = headers(Code::NotFound, "message length too large");
        rewrite(&mut h);
        assert_eq!(h["grpc-status"], "5");
    }
}
