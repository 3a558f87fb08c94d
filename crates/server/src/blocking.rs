//! The daemon's one bridge from async code to its synchronous stores.
//!
//! The rule (see docs/architecture.md, "Async and sync"): the stores
//! (metadata, content, snapshots, differ) are synchronous; async code calls
//! them only through [`run`], which moves the work to tokio's blocking pool,
//! so no runtime worker ever blocks. Synchronous code that already runs on
//! the blocking pool (a store call, plugin init) may wait for async work
//! with `Handle::block_on`; nothing else does.

use crated_core::{Error, Result};

/// Runs `f` on the blocking pool and returns its result; a task that
/// panicked or was cancelled (at shutdown) is an `Internal` error.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            "blocking store task did not finish; the daemon log has the panic if there was one",
            e,
        )
    })?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_off_the_runtime_and_keeps_errors() {
        // block_on inside the closure would panic on a runtime thread: it
        // works because the closure runs on the blocking pool.
        let handle = tokio::runtime::Handle::current();
        let v = run(move || Ok(handle.block_on(async { 7 }))).await.unwrap();
        assert_eq!(v, 7);
        let e = run(|| Err::<(), _>(Error::not_found("x")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crated_core::ErrorKind::NotFound);
        let panicked = run(|| -> Result<()> { panic!("boom") }).await.unwrap_err();
        assert_eq!(panicked.kind(), crated_core::ErrorKind::Internal);
    }
}
