//! Progress reports of a transfer, sent on the client's progress stream.

use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_api::types::Descriptor;
use crated_api::types::transfer::Progress as ApiProgress;
use tokio::sync::mpsc;

/// Sends progress to the client, or nowhere when it asked for none.
#[derive(Clone, Default)]
pub struct Progress {
    sender: Option<mpsc::Sender<Any>>,
}

impl Progress {
    /// Progress sent on `sender`.
    pub fn new(sender: Option<mpsc::Sender<Any>>) -> Self {
        Progress { sender }
    }

    /// Reports `event` for `name` with bytes done of total.
    pub async fn send(
        &self,
        event: &str,
        name: &str,
        progress: i64,
        total: i64,
        desc: Option<Descriptor>,
    ) {
        let Some(sender) = &self.sender else { return };
        let msg = ApiProgress {
            event: event.to_string(),
            name: name.to_string(),
            parents: Vec::new(),
            progress,
            total,
            desc,
        };
        let any = Any {
            type_url: ApiProgress::full_name(),
            value: msg.encode_to_vec(),
        };
        let _ = sender.send(any).await;
    }
}
