//! A container's log file in the CRI format, written by the daemon: one
//! copier per stream reads the task's stdout or stderr FIFO, cuts it into
//! records with [`crate::log::LineSplitter`] and appends them to the file
//! the CRI named; ReopenContainerLog reopens the path after kubelet has
//! rotated it. Records are written whole under one lock, so stdout and
//! stderr interleave by record, never inside one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::log::{LineSplitter, Stream};

/// The open log file of one container.
#[derive(Debug, Clone)]
pub struct ContainerLog {
    path: PathBuf,
    file: Arc<Mutex<tokio::fs::File>>,
    /// The raw output, as it is copied, for attached clients.
    attached: broadcast::Sender<(Stream, Bytes)>,
}

/// How many output chunks an attached client may fall behind by.
const ATTACH_BACKLOG: usize = 256;

async fn open(path: &Path) -> Result<tokio::fs::File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| Error::Io {
                what: "creating the container log directory",
                path: dir.to_path_buf(),
                source,
            })?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .await
        .map_err(|source| Error::Io {
            what: "opening the container log",
            path: path.to_path_buf(),
            source,
        })
}

impl ContainerLog {
    /// Opens (creating, appending) the log at `path`.
    pub async fn open(path: impl Into<PathBuf>) -> Result<ContainerLog> {
        let path = path.into();
        let file = open(&path).await?;
        Ok(ContainerLog {
            path,
            file: Arc::new(Mutex::new(file)),
            attached: broadcast::channel(ATTACH_BACKLOG).0,
        })
    }

    /// The container's output from now on, chunk by chunk, as it is
    /// copied into the log (Attach).
    pub fn subscribe(&self) -> broadcast::Receiver<(Stream, Bytes)> {
        self.attached.subscribe()
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again, so records go to the file now there (after
    /// a rotation moved the old one away).
    pub async fn reopen(&self) -> Result<()> {
        let fresh = open(&self.path).await?;
        let mut file = self.file.lock().await;
        file.flush().await.map_err(|source| Error::Io {
            what: "flushing the container log",
            path: self.path.clone(),
            source,
        })?;
        *file = fresh;
        Ok(())
    }

    async fn write(&self, records: &[u8]) -> Result<()> {
        let mut file = self.file.lock().await;
        let io = |source| Error::Io {
            what: "writing the container log",
            path: self.path.clone(),
            source,
        };
        file.write_all(records).await.map_err(io)?;
        // tokio's File writes in the background: flush so readers see the record.
        file.flush().await.map_err(io)
    }

    /// Copies `reader` (a stream of the container) into the log until it
    /// ends; `max_line_size` 0 means lines are never split. The task
    /// ends with the stream; a failed write ends it with the error.
    pub fn copy<R>(
        &self,
        mut reader: R,
        stream: Stream,
        max_line_size: usize,
    ) -> JoinHandle<Result<()>>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let log = self.clone();
        tokio::spawn(async move {
            let mut splitter = LineSplitter::new(stream, max_line_size);
            let mut buf = vec![0u8; 32 * 1024];
            let mut out = Vec::new();
            loop {
                let n = match reader.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(path = %log.path.display(), error = %e, "container output stream failed");
                        break;
                    }
                };
                // Nobody attached is not an error.
                let _ = log
                    .attached
                    .send((stream, Bytes::copy_from_slice(&buf[..n])));
                splitter.push(&buf[..n], SystemTime::now(), &mut out);
                if !out.is_empty() {
                    log.write(&out).await?;
                    out.clear();
                }
            }
            splitter.finish(SystemTime::now(), &mut out);
            if !out.is_empty() {
                log.write(&out).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn tags(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split_once(' ').map_or("", |x| x.1).to_string())
            .collect()
    }

    #[tokio::test]
    async fn streams_become_cri_records_split_at_the_max_line_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pod/app/0.log");
        let log = ContainerLog::open(&path).await.unwrap();
        let (mut w, r) = tokio::io::duplex(64);
        let copier = log.copy(r, Stream::Stdout, 8);
        w.write_all(b"short\n0123456789ab\nno newline")
            .await
            .unwrap();
        drop(w);
        copier.await.unwrap().unwrap();
        let (mut w, r) = tokio::io::duplex(64);
        let copier = log.copy(r, Stream::Stderr, 0);
        w.write_all(b"oops\n").await.unwrap();
        drop(w);
        copier.await.unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            tags(&text),
            [
                "stdout F short",
                "stdout P 01234567",
                "stdout F 89ab",
                "stdout P no newli",
                "stdout F ne",
                "stderr F oops"
            ]
        );
        for line in text.lines() {
            let stamp = line.split(' ').next().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
                "{stamp}"
            );
        }
    }

    #[tokio::test]
    async fn reopen_writes_to_the_new_file_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let log = ContainerLog::open(&path).await.unwrap();
        let (mut w, r) = tokio::io::duplex(64);
        let copier = log.copy(r, Stream::Stdout, 0);
        w.write_all(b"before\n").await.unwrap();
        // The first record is on disk before the rotation.
        while !std::fs::read_to_string(&path).unwrap().contains("before") {
            tokio::task::yield_now().await;
        }
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        log.reopen().await.unwrap();
        w.write_all(b"after\n").await.unwrap();
        drop(w);
        copier.await.unwrap().unwrap();
        assert_eq!(
            tags(&std::fs::read_to_string(dir.path().join("0.log.1")).unwrap()),
            ["stdout F before"]
        );
        assert_eq!(
            tags(&std::fs::read_to_string(&path).unwrap()),
            ["stdout F after"]
        );
    }
}
