//! The shim's `log` FIFO in the bundle: created before the shim starts
//! (containerd's Go shim exits silently without a reader) and copied into
//! the daemon's log.

use crated_core::{Error, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::bundle::Bundle;

/// Reads the shim log until dropped.
pub struct ShimLog {
    task: JoinHandle<()>,
}

impl Drop for ShimLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates (if needed) and opens the bundle's log FIFO, forwarding every
/// line to the daemon's log with the task id.
pub fn open(bundle: &Bundle) -> Result<Option<ShimLog>> {
    let path = bundle.log_fifo();
    if !path.exists() {
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o700)).map_err(
            |e| Error::internal(format!("creating shim log fifo {}: {e}", path.display())),
        )?;
    }
    let receiver = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&path)
        .map_err(|e| Error::internal(format!("opening shim log fifo {}: {e}", path.display())))?;
    let (id, ns) = (bundle.id.clone(), bundle.namespace.clone());
    let task = tokio::spawn(async move {
        let mut lines = BufReader::new(receiver).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "shim", namespace = %ns, id = %id, "{line}");
        }
    });
    Ok(Some(ShimLog { task }))
}
