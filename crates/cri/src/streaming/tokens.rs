//! One-time tokens for cached streaming requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use crated_core::Error;

use super::{AttachRequest, ExecRequest, PortForwardRequest};

/// How long a URL stays valid (kubelet's streaming cache TTL).
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How many requests may wait for their client at once.
pub const MAX_IN_FLIGHT: usize = 1000;

/// A cached request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// An exec session.
    Exec(ExecRequest),
    /// An attach session.
    Attach(AttachRequest),
    /// A port-forward session.
    PortForward(PortForwardRequest),
}

/// Requests waiting for their client.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Mutex<HashMap<String, (Instant, Cached)>>,
}

impl Tokens {
    /// Stores `request` and returns its token.
    pub fn insert(&self, request: Cached) -> Result<String, Error> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| Error::internal("streaming token cache lock poisoned"))?;
        let now = Instant::now();
        entries.retain(|_, (at, _)| now.duration_since(*at) < TOKEN_TTL);
        if entries.len() >= MAX_IN_FLIGHT {
            return Err(Error::new(
                crated_core::ErrorKind::ResourceExhausted,
                format!(
                    "{MAX_IN_FLIGHT} streaming requests are waiting for their clients; retry later"
                ),
            ));
        }
        let mut raw = [0u8; 16];
        rand::fill(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        entries.insert(token.clone(), (now, request));
        Ok(token)
    }

    /// Takes the request of `token`, if it is there and fresh.
    pub fn consume(&self, token: &str) -> Option<Cached> {
        let mut entries = self.entries.lock().ok()?;
        let (at, request) = entries.remove(token)?;
        (at.elapsed() < TOKEN_TTL).then_some(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Cached {
        Cached::PortForward(PortForwardRequest {
            sandbox_id: "s".into(),
            ports: vec![80],
        })
    }

    #[test]
    fn a_token_is_used_once() {
        let tokens = Tokens::default();
        let t = tokens.insert(pf()).unwrap();
        assert_eq!(t.len(), 22);
        assert_eq!(tokens.consume(&t), Some(pf()));
        assert_eq!(tokens.consume(&t), None);
        assert_eq!(tokens.consume("made-up"), None);
    }

    #[test]
    fn too_many_waiting_requests_are_refused() {
        let tokens = Tokens::default();
        for _ in 0..MAX_IN_FLIGHT {
            tokens.insert(pf()).unwrap();
        }
        let err = tokens.insert(pf()).unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::ResourceExhausted);
    }
}
