//! `cratectl events`.

use std::io::Write;

use anyhow::{Context as _, Result};
use crated_client::events::Envelope;
use futures::StreamExt;

use crate::cli::EventsArgs;
use crate::context::Context;
use crate::event_json::event_json;
use crate::output::{human, json_time};

/// Prints events as they arrive, one per line: `TIMESTAMP NAMESPACE TOPIC
/// EVENT` like `ctr events`, or one JSON object per line with
/// `--format json`.
pub async fn run(ctx: &Context, args: EventsArgs) -> Result<()> {
    let client = ctx.connect().await?;
    let mut events = client.events().subscribe(&args.filters).await?;
    while let Some(envelope) = events.next().await {
        let envelope = envelope?;
        let line = if ctx.json() {
            json_line(&envelope)
        } else {
            text_line(&envelope)
        };
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.context("writing to stdout")?,
        }
    }
    Ok(())
}

/// The event body as JSON when its type is known, else its type URL.
fn body(envelope: &Envelope) -> String {
    match envelope.decode() {
        Ok(Some(event)) => event_json(&event),
        Ok(None) | Err(_) => envelope.type_url().unwrap_or_default().to_string(),
    }
}

fn text_line(envelope: &Envelope) -> String {
    format!(
        "{} {} {} {}",
        human::go_time(envelope.timestamp),
        envelope.namespace,
        envelope.topic,
        body(envelope)
    )
}

fn json_line(envelope: &Envelope) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let event = match envelope.decode() {
        Ok(Some(event)) => event_json(&event),
        Ok(None) | Err(_) => "null".to_string(),
    };
    format!(
        "{{\"timestamp\":{},\"namespace\":{},\"topic\":{},\"type\":{},\"event\":{}}}",
        quote(&json_time(envelope.timestamp)),
        quote(&envelope.namespace),
        quote(&envelope.topic),
        quote(envelope.type_url().unwrap_or_default()),
        event
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_client::api::events::NamespaceDelete;
    use crated_client::events::to_any;

    fn envelope() -> Envelope {
        Envelope {
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000, 418_794_395)
                .unwrap_or_default(),
            namespace: "foo".into(),
            topic: "/namespaces/delete".into(),
            event: Some(to_any(&NamespaceDelete { name: "foo".into() })),
        }
    }

    #[test]
    fn text_lines_like_ctr() {
        assert_eq!(
            text_line(&envelope()),
            r#"2023-11-14 22:13:20.418794395 +0000 UTC foo /namespaces/delete {"name":"foo"}"#
        );
        let mut unknown = envelope();
        if let Some(any) = unknown.event.as_mut() {
            any.type_url = "example.com/Other".into();
        }
        assert!(text_line(&unknown).ends_with(" example.com/Other"));
    }

    #[test]
    fn json_lines_parse() {
        let line = json_line(&envelope());
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(value["event"]["name"], "foo");
        assert_eq!(value["type"], "containerd.events.NamespaceDelete");
    }
}
