//! Credentials from a transfer's client over its auth stream
//! (`RegistryResolver.auth_stream`), as containerd's transfer service asks
//! for them: when a registry host challenges, the daemon sends an
//! `AuthRequest` naming the host and reference, and the client answers with
//! an `AuthResponse`: a username and password, or an identity (refresh)
//! token.

use std::time::Duration;

use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::types::transfer::{AuthRequest, AuthResponse, AuthType};
use crated_remotes::auth::{Credential, CredentialSource};
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use crate::streaming::Stream;

/// How long the client has to answer. containerd's clients send nothing
/// back when they have no credentials for a host, so the pull goes on
/// anonymously after this.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's auth stream of one transfer.
pub struct AuthStream {
    stream: Mutex<Stream>,
    reference: String,
}

impl AuthStream {
    /// Credentials for a transfer of `reference`, asked on `stream`.
    pub fn new(stream: Stream, reference: &str) -> AuthStream {
        AuthStream {
            stream: Mutex::new(stream),
            reference: reference.to_string(),
        }
    }

    async fn ask(&self, host: &str) -> Option<Credential> {
        let mut stream = self.stream.lock().await;
        let request = AuthRequest {
            host: host.to_string(),
            reference: self.reference.clone(),
            wwwauthenticate: Vec::new(),
        };
        let message = Any {
            type_url: AuthRequest::full_name(),
            value: request.encode_to_vec(),
        };
        if stream.to_client.send(message).await.is_err() {
            tracing::warn!(
                host,
                "the client closed its auth stream: pulling anonymously"
            );
            return None;
        }
        let answer = match tokio::time::timeout(ANSWER_TIMEOUT, stream.from_client.recv()).await {
            Ok(Some(answer)) => answer,
            Ok(None) => {
                tracing::warn!(
                    host,
                    "the client closed its auth stream: pulling anonymously"
                );
                return None;
            }
            Err(_) => {
                tracing::info!(
                    host,
                    "the client gave no credentials in time: pulling anonymously"
                );
                return None;
            }
        };
        match AuthResponse::decode(answer.value.as_slice()) {
            Ok(response) => credential_from(host, &response),
            Err(e) => {
                tracing::warn!(host, error = %e, "undecodable AuthResponse on the auth stream");
                None
            }
        }
    }
}

impl CredentialSource for AuthStream {
    fn credential<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<Credential>> {
        Box::pin(self.ask(host))
    }
}

/// The credential an `AuthResponse` gives for `host`.
fn credential_from(host: &str, response: &AuthResponse) -> Option<Credential> {
    match AuthType::try_from(response.auth_type) {
        Ok(AuthType::Credentials) => Some(Credential::new(&response.username, &response.secret)),
        Ok(AuthType::Refresh) => Some(Credential::new("", &response.secret)),
        Ok(AuthType::None) => None,
        Ok(AuthType::Header) | Err(_) => {
            tracing::warn!(
                host,
                auth_type = response.auth_type,
                "the client answered with an authorization header, which crated cannot use yet: \
                 pulling anonymously (give a username and password or an identity token)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn response(auth_type: AuthType, username: &str, secret: &str) -> AuthResponse {
        AuthResponse {
            auth_type: auth_type as i32,
            secret: secret.into(),
            username: username.into(),
            expire_at: None,
        }
    }

    #[test]
    fn responses_become_credentials_as_containerd_reads_them() {
        let c = credential_from("h", &response(AuthType::Credentials, "u", "p")).unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("u", "p"));
        let c = credential_from("h", &response(AuthType::Refresh, "", "refresh")).unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("", "refresh"));
        assert!(credential_from("h", &response(AuthType::None, "", "")).is_none());
        assert!(credential_from("h", &response(AuthType::Header, "", "Bearer x")).is_none());
    }

    #[tokio::test]
    async fn asks_the_client_for_the_host_and_reads_its_answer() {
        let (to_client, mut client_reads) = mpsc::channel(4);
        let (client_writes, from_client) = mpsc::channel(4);
        let auth = AuthStream::new(
            Stream {
                to_client,
                from_client,
            },
            "r.example:5000/app:1",
        );
        let client = tokio::spawn(async move {
            let asked = client_reads.recv().await.unwrap();
            assert_eq!(asked.type_url, AuthRequest::full_name());
            let asked = AuthRequest::decode(asked.value.as_slice()).unwrap();
            assert_eq!(
                (asked.host.as_str(), asked.reference.as_str()),
                ("r.example:5000", "r.example:5000/app:1")
            );
            let answer = response(AuthType::Credentials, "alice", "pw");
            client_writes
                .send(Any {
                    type_url: AuthResponse::full_name(),
                    value: answer.encode_to_vec(),
                })
                .await
                .unwrap();
            client_writes
        });
        let c = auth.credential("r.example:5000").await.unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("alice", "pw"));
        let client_writes = client.await.unwrap();
        drop(client_writes);
        assert!(
            auth.credential("r.example:5000").await.is_none(),
            "closed stream"
        );
    }
}
