//! `crated publish`: forwards an event read from stdin to the daemon, as
//! runtime v2 shims call it.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// Reads a protobuf `Any` from stdin and publishes it on `topic` in
/// `namespace` through the daemon at `address`.
pub async fn publish(address: &str, topic: &str, namespace: &str) -> Result<()> {
    if topic.is_empty() {
        bail!("topic required to publish event: invalid argument");
    }
    let mut payload = Vec::new();
    std::io::stdin()
        .read_to_end(&mut payload)
        .context("reading the event from stdin")?;
    let any =
        <crated_api::prost_types::Any as crated_api::prost::Message>::decode(payload.as_slice())
            .context("decoding the event on stdin (expected a protobuf google.protobuf.Any)")?;
    let path = PathBuf::from(address);
    let channel = tonic::transport::Endpoint::from_static("http://[::]:50051")
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .with_context(|| format!("failed to dial {address:?}; is crated running there?"))?;
    let mut client = crated_api::services::v1::events_client::EventsClient::new(channel);
    let mut request = tonic::Request::new(crated_api::services::v1::PublishRequest {
        topic: topic.to_string(),
        event: Some(any),
    });
    request.metadata_mut().insert(
        crated_api::NAMESPACE_HEADER,
        namespace
            .parse()
            .context("namespace is not a valid header value")?,
    );
    client
        .publish(request)
        .await
        .map_err(|s| anyhow::anyhow!("publishing {topic} to {address}: {}", s.message()))?;
    Ok(())
}
