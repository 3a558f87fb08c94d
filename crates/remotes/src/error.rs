//! Registry responses and transport failures as containerd error kinds, with
//! messages that say what to do.

use std::error::Error as StdError;
use std::io;

use crated_core::errconv::chain_text_where;
use crated_core::{Error, ErrorKind};
use reqwest::{Response, StatusCode};
use serde::Deserialize;

/// How much of an error body is read to find the registry's message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The hint added to authentication failures.
pub(crate) const CREDENTIALS_HINT: &str =
    "pass credentials with --user user:password or log in with a docker config.json";

/// One entry of the distribution spec's error body.
#[derive(Debug, Deserialize)]
struct RegistryError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct RegistryErrors {
    #[serde(default)]
    errors: Vec<RegistryError>,
}

/// The kind for a distribution error code, if it says more than the status.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "BLOB_UNKNOWN" | "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UPLOAD_UNKNOWN" => {
            ErrorKind::NotFound
        }
        "MANIFEST_BLOB_UNKNOWN" => ErrorKind::FailedPrecondition,
        "UNAUTHORIZED" => ErrorKind::Unauthenticated,
        "DENIED" => ErrorKind::PermissionDenied,
        "UNSUPPORTED" => ErrorKind::NotImplemented,
        "TOOMANYREQUESTS" => ErrorKind::Unavailable,
        "DIGEST_INVALID"
        | "SIZE_INVALID"
        | "NAME_INVALID"
        | "TAG_INVALID"
        | "MANIFEST_INVALID"
        | "MANIFEST_UNVERIFIED"
        | "BLOB_UPLOAD_INVALID"
        | "RANGE_INVALID"
        | "PAGINATION_NUMBER_INVALID" => ErrorKind::InvalidArgument,
        _ => return None,
    })
}

/// The kind for an HTTP status.
pub(crate) fn kind_of_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 411 | 413 | 414 | 416 | 422 => ErrorKind::InvalidArgument,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::NotImplemented,
        409 => ErrorKind::Conflict,
        408 | 429 | 502 | 503 | 504 => ErrorKind::Unavailable,
        412 => ErrorKind::FailedPrecondition,
        _ => ErrorKind::Unknown,
    }
}

/// An error for an unexpected response to `what` (e.g. `HEAD https://…`),
/// reading the registry's error body for its message.
pub(crate) async fn status_error(resp: Response, what: &str) -> Error {
    let status = resp.status();
    // Go's TLS servers answer a plain-HTTP request with a bare HTTP/1.0 400
    // (and a body a HEAD does not get).
    let bare = resp.version() == reqwest::Version::HTTP_10 && resp.headers().is_empty();
    let mut body = read_limited(resp).await;
    if status == StatusCode::BAD_REQUEST && bare && body.is_empty() {
        body = HTTPS_SERVER_MESSAGE.to_vec();
    }
    status_error_from_body(status, &body, what)
}

/// What a Go TLS server says to a plain-HTTP client.
const HTTPS_SERVER_MESSAGE: &[u8] = b"Client sent an HTTP request to an HTTPS server.";

/// [`status_error`] on a body already read.
pub(crate) fn status_error_from_body(status: StatusCode, body: &[u8], what: &str) -> Error {
    let text = String::from_utf8_lossy(body);
    if status == StatusCode::BAD_REQUEST && text.contains("HTTP request to an HTTPS server") {
        return Error::unavailable(format!(
            "{what}: the registry speaks HTTPS but was asked over plain HTTP (the default for \
             loopback hosts, and what --plain-http asks): set server = \"https://…\" in its hosts.toml, \
             or drop --plain-http"
        ));
    }
    let parsed: Vec<RegistryError> = serde_json::from_slice::<RegistryErrors>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    let kind = parsed
        .iter()
        .find_map(|e| kind_of_code(&e.code))
        .unwrap_or_else(|| kind_of_status(status));
    let mut message = format!("{what}: unexpected status {status}");
    if !parsed.is_empty() {
        let mut server: Vec<String> = parsed
            .iter()
            .map(|e| format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message))
            .collect();
        server.dedup();
        message.push_str(&format!(" - server message: {}", server.join("; ")));
    }
    match kind {
        ErrorKind::Unauthenticated => message.push_str(&format!("; {CREDENTIALS_HINT}")),
        ErrorKind::PermissionDenied => {
            message.push_str("; the credentials given lack access to this repository")
        }
        _ => {}
    }
    Error::new(kind, message)
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of `resp`'s body; errors read as empty.
pub(crate) async fn read_limited(mut resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}

/// The chain of `err` and its sources as one string, without reqwest's
/// outermost message (it repeats the URL the caller names).
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    chain_text_where(err, |text| !text.starts_with("error sending request"))
}

/// Whether an https request failed because the server hung up on it. With
/// TLS 1.3 the client's handshake completes before the server checks the
/// client certificate, so a refusal can reach the client as a closed
/// connection, a reset or a broken pipe on its first write instead of the
/// server's alert.
fn closed_during_setup(lower: &str) -> bool {
    ["connection closed", "broken pipe", "connection reset"]
        .iter()
        .any(|sign| lower.contains(sign))
}

/// An `Unavailable` error for a request to `what` on `host` that failed
/// before a response, with a hint for the common misconfigurations.
pub(crate) fn transport_error(err: &reqwest::Error, what: &str, scheme: &str, host: &str) -> Error {
    let text = chain_text(err);
    let lower = text.to_lowercase();
    let hint = if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        Some(format!(
            "the registry at {host} does not speak TLS: use --plain-http, or server = \"http://{host}\" in hosts.toml"
        ))
    } else if lower.contains("unknownissuer") || lower.contains("invalid peer certificate") {
        Some(format!(
            "the certificate of {host} is not trusted: add its CA with ca = \"…\" in the hosts.toml for {host} \
             (or --tlscacert), or set skip_verify = true"
        ))
    } else if ["certificaterequired", "badcertificate", "handshakefailure"]
        .iter()
        .any(|alert| lower.contains(alert))
    {
        Some(format!(
            "{host} may require a client certificate: set client = [[\"cert.pem\", \"key.pem\"]] in its hosts.toml"
        ))
    } else if scheme == "https" && closed_during_setup(&lower) {
        Some(format!(
            "{host} closed the connection during TLS setup; it may require a client certificate: \
             set client = [[\"cert.pem\", \"key.pem\"]] in its hosts.toml"
        ))
    } else if lower.contains("connection refused") {
        Some(format!("is a registry listening at {scheme}://{host}?"))
    } else if err.is_timeout() {
        Some(format!("{host} did not answer in time"))
    } else {
        None
    };
    let mut message = format!("failed to do request: {what}: {text}");
    if let Some(hint) = hint {
        message.push_str(&format!(" ({hint})"));
    }
    Error::unavailable(message)
}

/// The crated error inside an [`io::Error`] returned by this crate's
/// readers (a digest mismatch, a failed re-open), or one made from the I/O
/// error itself (`crated_core::errconv`'s `From<io::Error>`).
pub fn error_from_io(err: io::Error) -> Error {
    Error::from(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_registry_error_bodies() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        let e = status_error_from_body(
            StatusCode::NOT_FOUND,
            body,
            "HEAD http://r/v2/x/manifests/t",
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.message()
                .contains("server message: manifest unknown: manifest unknown")
        );
        let body = br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
        let e = status_error_from_body(StatusCode::BAD_REQUEST, body, "PUT");
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        let e = status_error_from_body(StatusCode::UNAUTHORIZED, b"", "GET");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(e.message().contains("--user"));
        let e = status_error_from_body(StatusCode::FORBIDDEN, b"<html>", "GET");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = status_error_from_body(StatusCode::SERVICE_UNAVAILABLE, b"", "GET");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let e = status_error_from_body(
            StatusCode::BAD_REQUEST,
            b"Client sent an HTTP request to an HTTPS server.\n",
            "GET",
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("drop --plain-http"));
    }

    #[test]
    fn io_round_trip_keeps_kind() {
        let e = error_from_io(io::Error::from(Error::failed_precondition(
            "digest mismatch",
        )));
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert_eq!(e.message(), "digest mismatch");
        let e = error_from_io(io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!(e.kind(), ErrorKind::DataLoss);
    }
}
