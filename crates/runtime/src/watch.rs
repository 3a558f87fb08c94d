//! Watching shims for death while the daemon runs.
//!
//! Each shim in the manager has a watcher waiting on its task's init
//! (`Wait`). If that call fails because the connection dropped, the shim
//! died: unless the daemon itself was taking it down (Delete), the task is
//! cleaned up as containerd does after a dead shim (the shim binary's
//! `delete` kills and removes the runtime's container and unmounts the
//! rootfs, the bundle goes, the task is forgotten) and handed to the
//! manager's dead handler, which publishes `/tasks/exit` and
//! `/tasks/delete`. When init exits normally the watcher ends: the shim
//! publishes that exit itself, and a later Delete of a shim that died
//! meanwhile cleans up on its own.

use std::sync::Arc;

use crated_api::ttrpc::api;
use crated_core::ErrorKind;

use crate::manager::{DeadTask, ShimManager};
use crate::shim::Shim;

/// Starts the watcher of `shim` on the current tokio runtime.
pub fn spawn(manager: &Arc<ShimManager>, shim: Arc<Shim>) {
    let manager = manager.clone();
    tokio::spawn(async move {
        if let Some(dead) = watch(&manager, shim).await
            && let Some(handler) = manager.dead_handler()
        {
            handler(dead);
        }
    });
}

/// Waits for `shim` to die; returns its task once cleaned up, or `None`
/// when its init exited normally, the daemon took it down, or another
/// path (Delete) already removed it.
async fn watch(manager: &ShimManager, shim: Arc<Shim>) -> Option<DeadTask> {
    let mut req = api::WaitRequest::new();
    req.id = shim.bundle.id.clone();
    match shim.wait(&req).await {
        Err(e) if e.kind() == ErrorKind::Unavailable => {
            tracing::debug!(id = %shim.bundle.id, error = %e, "shim connection lost");
        }
        _ => return None,
    }
    if shim.is_closing() {
        return None;
    }
    let key = (shim.bundle.namespace.clone(), shim.bundle.id.clone());
    {
        let mut shims = manager.shims();
        match shims.get(&key) {
            Some(known) if Arc::ptr_eq(known, &shim) => {
                shims.remove(&key);
            }
            _ => return None,
        }
    }
    shim.mark_closing();
    tracing::warn!(namespace = %key.0, id = %key.1, "shim died while its task ran; cleaning up");
    let exit = manager.cleanup_dead(&shim.bundle, &shim.binary).await;
    if let Err(e) = shim.bundle.delete() {
        tracing::warn!(namespace = %key.0, id = %key.1, error = %e, "removing the bundle of a dead shim");
    }
    Some(DeadTask {
        namespace: key.0,
        id: key.1,
        exit,
    })
}
