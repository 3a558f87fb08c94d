//! Client-opened streams that other services use by id: the Transfer
//! service sends progress on one, and reads import data or credentials
//! from others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crated_api::prost_types::Any;
use crated_core::{Error, Result};
use tokio::sync::mpsc;

/// One registered stream: what the daemon sends, and what the client sent.
pub struct Stream {
    /// Messages to the client.
    pub to_client: mpsc::Sender<Any>,
    /// Messages from the client.
    pub from_client: mpsc::Receiver<Any>,
}

/// The streams opened by clients, by namespace and id, until a service
/// takes them.
#[derive(Clone, Default)]
pub struct StreamManager {
    streams: Arc<Mutex<HashMap<(String, String), Stream>>>,
}

impl StreamManager {
    /// Registers a stream opened by a client.
    pub fn register(&self, ns: &str, id: &str, stream: Stream) -> Result<()> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ns.to_string(), id.to_string());
        if streams.contains_key(&key) {
            return Err(Error::already_exists(format!("stream {id}")));
        }
        streams.insert(key, stream);
        Ok(())
    }

    /// Takes the stream `id`, waiting a little for the client to open it.
    pub async fn take(&self, ns: &str, id: &str) -> Result<Stream> {
        let key = (ns.to_string(), id.to_string());
        for _ in 0..50 {
            if let Some(s) = self
                .streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key)
            {
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(Error::not_found(format!(
            "stream {id} (open it with the Streaming service first)"
        )))
    }
}
