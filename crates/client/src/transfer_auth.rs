//! The client's side of a transfer's auth stream: the daemon asks for the
//! credentials of a registry host when the host challenges, and the client
//! answers with the user's (a username and password, or an identity token
//! when there is no username), as containerd's clients do.

use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::types::transfer::{AuthRequest, AuthResponse, AuthType};

use crate::client::Client;
use crate::error::Result;
use crate::streaming::{self, Stream};
use crate::transfer::Credentials;

/// An open auth stream and the credentials it gives.
pub(crate) struct AuthAnswerer {
    stream: Stream,
    credentials: Credentials,
}

impl AuthAnswerer {
    /// Opens an auth stream on `client` for `credentials`; `None` when the
    /// daemon has no streaming service.
    pub(crate) async fn open(client: &Client, credentials: &Credentials) -> Result<Option<Self>> {
        let id = format!("auth-{}", crate::leases::generate_id());
        match streaming::open(client, &id).await {
            Ok(stream) => Ok(Some(AuthAnswerer {
                stream,
                credentials: credentials.clone(),
            })),
            Err(err) if err.kind() == crated_core::ErrorKind::NotImplemented => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The stream's id, for `RegistryResolver.auth_stream`.
    pub(crate) fn id(&self) -> &str {
        self.stream.id()
    }

    /// Waits for the daemon's next question and answers it; `false` once
    /// the stream is closed.
    pub(crate) async fn answer_next(&mut self) -> bool {
        let question = match self.stream.recv().await {
            Ok(Some(question)) => question,
            Ok(None) | Err(_) => return false,
        };
        match AuthRequest::decode(question.value.as_slice()) {
            Ok(request) => tracing::debug!(host = %request.host, "the daemon asks for credentials"),
            Err(e) => tracing::debug!(error = %e, "undecodable question on the auth stream"),
        }
        let answer = Any {
            type_url: AuthResponse::full_name(),
            value: response(&self.credentials).encode_to_vec(),
        };
        self.stream.send(answer).await.is_ok()
    }
}

/// The answer that gives `credentials`.
fn response(credentials: &Credentials) -> AuthResponse {
    let auth_type = if credentials.user.is_empty() {
        AuthType::Refresh
    } else {
        AuthType::Credentials
    };
    AuthResponse {
        auth_type: auth_type as i32,
        secret: credentials.secret.clone(),
        username: credentials.user.clone(),
        expire_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_gives_credentials_and_none_an_identity_token() {
        let r = response(&Credentials {
            user: "alice".into(),
            secret: "pw".into(),
        });
        assert_eq!(r.auth_type, AuthType::Credentials as i32);
        assert_eq!((r.username.as_str(), r.secret.as_str()), ("alice", "pw"));
        let r = response(&Credentials {
            user: String::new(),
            secret: "refresh".into(),
        });
        assert_eq!(r.auth_type, AuthType::Refresh as i32);
        assert_eq!(r.secret, "refresh");
    }
}
