//! Writing a blob with the content service's `Write` stream, the way
//! containerd's `content.WriteBlob` does over its proxy writer: STAT to learn
//! how much of the ingest the daemon already has, WRITE the rest in chunks
//! from that offset, then COMMIT with the expected size, digest and labels.

use std::collections::HashMap;
use std::time::Duration;

use crated_api::services::v1::{WriteAction, WriteContentRequest, WriteContentResponse};
use crated_core::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::Content;
use crate::error::{Error, Result};

/// Bytes sent per WRITE message, as containerd's copy buffer.
const CHUNK_SIZE: usize = 1 << 20;

/// How often to retry opening a writer whose ref another writer holds.
const LOCK_RETRIES: u32 = 8;

/// The first wait before retrying a locked ref; it doubles each time.
const LOCK_BACKOFF: Duration = Duration::from_millis(16);

/// How a blob write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The blob was written and committed.
    Committed {
        /// The digest of the committed blob.
        digest: String,
        /// The size of the committed blob.
        size: i64,
    },
    /// The store already had the blob; nothing (more) was written.
    AlreadyExists {
        /// The blob's digest: the expected one, or the one the daemon
        /// computed.
        digest: String,
    },
}

impl WriteOutcome {
    /// The digest of the blob now in the store.
    pub fn digest(&self) -> &str {
        match self {
            WriteOutcome::Committed { digest, .. } | WriteOutcome::AlreadyExists { digest } => {
                digest
            }
        }
    }
}

/// What to write: the ingest ref and what the blob must turn out to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteRequest {
    /// The ingest reference; writes with the same ref resume each other.
    pub reference: String,
    /// The digest the blob must have, if known (`algorithm:hex`).
    pub expected_digest: Option<String>,
    /// The size the blob must have, if known.
    pub expected_size: Option<i64>,
    /// Labels to set on the committed blob.
    pub labels: HashMap<String, String>,
}

/// One open `Write` stream.
struct Session {
    sender: mpsc::Sender<WriteContentRequest>,
    responses: Streaming<WriteContentResponse>,
    /// The last digest the daemon reported.
    digest: String,
}

impl Content {
    /// Writes the blob read from `reader` under ingest `reference` and
    /// commits it, checking `expected_digest` and `expected_size` when given
    /// and setting `labels` on it.
    ///
    /// If the daemon already holds part of the ingest, that many bytes of
    /// `reader` are skipped and the write resumes. A blob that already
    /// exists is a success ([`WriteOutcome::AlreadyExists`]) and `reader`
    /// may be left unread.
    pub async fn write_blob<R>(
        &self,
        reference: &str,
        expected_digest: Option<&str>,
        expected_size: Option<i64>,
        reader: R,
        labels: HashMap<String, String>,
    ) -> Result<WriteOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        let request = WriteRequest {
            reference: reference.to_string(),
            expected_digest: expected_digest.map(str::to_string),
            expected_size,
            labels,
        };
        self.write(request, reader).await
    }

    /// [`Content::write_blob`] with its arguments in one struct.
    pub async fn write<R>(&self, request: WriteRequest, mut reader: R) -> Result<WriteOutcome>
    where
        R: AsyncRead + Unpin + Send,
    {
        if request.reference.is_empty() {
            return Err(Error::InvalidArgument(
                "a content write needs a reference".to_string(),
            ));
        }
        let size = match request.expected_size {
            Some(size) if size < 0 => {
                return Err(Error::InvalidArgument(format!(
                    "expected size {size} is negative"
                )));
            }
            Some(size) => size,
            None => 0,
        };
        let expected = request.expected_digest.clone().unwrap_or_default();
        let already = |digest: &str| WriteOutcome::AlreadyExists {
            digest: digest.to_string(),
        };

        let (mut session, start) = match self.open(&request.reference, size, &expected).await {
            Ok(opened) => opened,
            Err(err) if err.is_already_exists() => return Ok(already(&expected)),
            Err(err) => return Err(err),
        };

        if start > 0 {
            skip(&mut reader, start, &request.reference).await?;
        }
        let mut offset = start;
        loop {
            let data = read_chunk(&mut reader).await?;
            if data.is_empty() {
                break;
            }
            let sent = data.len() as i64;
            let response = self
                .round_trip(
                    &mut session,
                    WriteContentRequest {
                        action: WriteAction::Write as i32,
                        offset,
                        data,
                        ..Default::default()
                    },
                )
                .await?;
            if response.offset != offset + sent {
                return Err(Error::protocol(format!(
                    "content write {}: short write: the daemon is at offset {} after writing {sent} bytes at {offset}",
                    request.reference, response.offset
                )));
            }
            offset = response.offset;
        }
        if size != 0 && offset < size {
            return Err(Error::InvalidArgument(format!(
                "content write {}: the input ended after {offset} of the expected {size} bytes",
                request.reference
            )));
        }

        let commit = WriteContentRequest {
            action: WriteAction::Commit as i32,
            total: size,
            offset,
            expected: expected.clone(),
            labels: request.labels,
            ..Default::default()
        };
        let response = match self.round_trip(&mut session, commit).await {
            Ok(response) => response,
            Err(err) if err.is_already_exists() => {
                let digest = if expected.is_empty() {
                    session.digest.clone()
                } else {
                    expected
                };
                return Ok(already(&digest));
            }
            Err(err) => return Err(err),
        };
        if size != 0 && response.offset != size {
            return Err(Error::protocol(format!(
                "content write {}: unexpected size: {} != {size}",
                request.reference, response.offset
            )));
        }
        if !expected.is_empty() && response.digest != expected {
            return Err(Error::protocol(format!(
                "content write {}: unexpected digest: {} != {expected}",
                request.reference, response.digest
            )));
        }
        Ok(WriteOutcome::Committed {
            digest: response.digest,
            size: response.offset,
        })
    }

    /// Opens a `Write` stream and sends the STAT that names the ref;
    /// returns the session and the offset the daemon already has. Retries
    /// while another writer holds the ref.
    async fn open(&self, reference: &str, total: i64, expected: &str) -> Result<(Session, i64)> {
        let mut backoff = LOCK_BACKOFF;
        let mut attempt = 0;
        loop {
            match self.try_open(reference, total, expected).await {
                Err(err) if err.kind() == ErrorKind::Unavailable && attempt < LOCK_RETRIES => {
                    if matches!(err, Error::Connect { .. }) {
                        return Err(err);
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return other,
            }
        }
    }

    async fn try_open(
        &self,
        reference: &str,
        total: i64,
        expected: &str,
    ) -> Result<(Session, i64)> {
        let (sender, receiver) = mpsc::channel(1);
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.to_string(),
            total,
            expected: expected.to_string(),
            ..Default::default()
        };
        // The daemon answers (and sends its headers) only once it has the
        // first message, so queue it before opening the call.
        sender
            .send(stat)
            .await
            .map_err(|_| Error::protocol("content write: the request stream closed"))?;
        let client = self.client();
        let request = client.request(ReceiverStream::new(receiver))?;
        let mut grpc = self.grpc();
        let response = client
            .within_timeout("content write", grpc.write(request))
            .await?;
        let mut session = Session {
            sender,
            responses: response.into_inner(),
            digest: String::new(),
        };
        let stat = self.receive(&mut session).await?;
        Ok((session, stat.offset))
    }

    /// Sends one request and waits for its answer.
    async fn round_trip(
        &self,
        session: &mut Session,
        request: WriteContentRequest,
    ) -> Result<WriteContentResponse> {
        // If the daemon ended the stream, the send fails and the answer
        // carries the daemon's error.
        let _ = session.sender.send(request).await;
        self.receive(session).await
    }

    async fn receive(&self, session: &mut Session) -> Result<WriteContentResponse> {
        let client = self.client();
        let response = client
            .within_timeout("content write", session.responses.message())
            .await?
            .ok_or_else(|| Error::protocol("content write: the daemon closed the stream"))?;
        if !response.digest.is_empty() {
            session.digest.clone_from(&response.digest);
        }
        Ok(response)
    }
}

/// Reads up to [`CHUNK_SIZE`] bytes, filling the chunk unless the input
/// ends; an empty chunk means the end.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(CHUNK_SIZE);
    while data.len() < CHUNK_SIZE {
        let mut limited = (&mut *reader).take((CHUNK_SIZE - data.len()) as u64);
        let n = limited
            .read_buf(&mut data)
            .await
            .map_err(|source| Error::Io {
                context: "reading the blob to write".to_string(),
                source,
            })?;
        if n == 0 {
            break;
        }
    }
    Ok(data)
}

/// Skips the `offset` bytes the daemon already has.
async fn skip<R: AsyncRead + Unpin>(reader: &mut R, offset: i64, reference: &str) -> Result<()> {
    let wanted = u64::try_from(offset).unwrap_or_default();
    let skipped = tokio::io::copy(&mut (&mut *reader).take(wanted), &mut tokio::io::sink())
        .await
        .map_err(|source| Error::Io {
            context: format!("skipping to offset {offset} to resume write to {reference}"),
            source,
        })?;
    if skipped != wanted {
        return Err(Error::InvalidArgument(format!(
            "cannot resume write to {reference}: the input has {skipped} bytes, the daemon already has {offset}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_are_full_until_the_end() {
        let input = vec![7u8; CHUNK_SIZE + 10];
        let mut reader = input.as_slice();
        let first = read_chunk(&mut reader).await.ok().map(|c| c.len());
        let second = read_chunk(&mut reader).await.ok().map(|c| c.len());
        let third = read_chunk(&mut reader).await.ok().map(|c| c.len());
        assert_eq!(
            (first, second, third),
            (Some(CHUNK_SIZE), Some(10), Some(0))
        );
    }

    #[tokio::test]
    async fn skip_checks_the_input_is_long_enough() {
        let mut reader: &[u8] = b"hello";
        assert!(skip(&mut reader, 2, "r").await.is_ok());
        assert_eq!(reader, b"llo");
        assert!(skip(&mut reader, 5, "r").await.is_err());
    }
}
