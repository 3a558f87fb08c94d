//! In-process locks on ingest refs: one writer per ref at a time.
//!
//! Locks are process-wide and keyed by the ingest directory, so two
//! `LocalStore` values opened on the same root exclude each other while
//! stores on different roots do not. A crashed process holds no locks, which
//! is why an ingest on disk can always be resumed after a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crated_core::{Error, Result};

use crate::fsutil::format_time;

/// When a held lock was taken.
struct Held {
    since: DateTime<Utc>,
    at: Instant,
}

static LOCKS: Mutex<BTreeMap<PathBuf, Held>> = Mutex::new(BTreeMap::new());
/// Signalled whenever a lock is released.
static RELEASED: Condvar = Condvar::new();

/// How long [`RefLock::acquire`] waits for a held ref, woken as soon as it
/// is released: a writer being dropped lets go within this time, while a
/// ref that another live writer holds is refused as promptly as containerd
/// refuses it.
const WAIT: Duration = Duration::from_millis(20);

fn locks() -> MutexGuard<'static, BTreeMap<PathBuf, Held>> {
    // The map stays consistent even if a holder panicked: every operation
    // is a single insert or remove.
    LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn held_error(reference: &str, held: &Held) -> Error {
    Error::unavailable(format!(
        "ref {reference} locked for {:?} (since {})",
        held.at.elapsed(),
        format_time(held.since)
    ))
}

/// A held lock on one ingest ref, released on drop.
#[derive(Debug)]
pub(crate) struct RefLock {
    key: PathBuf,
}

impl RefLock {
    /// Takes the lock on `key` (the ingest directory of `reference`),
    /// waiting up to [`WAIT`] for its holder to release it; `Unavailable`
    /// saying since when it is held otherwise.
    pub(crate) fn acquire(key: PathBuf, reference: &str) -> Result<RefLock> {
        let deadline = Instant::now() + WAIT;
        let mut locks = locks();
        loop {
            let Some(held) = locks.get(&key) else {
                return Ok(Self::insert(&mut locks, key));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(held_error(reference, held));
            }
            locks = RELEASED
                .wait_timeout(locks, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Takes the lock on `key` once, without waiting.
    #[cfg(test)]
    pub(crate) fn try_acquire(key: PathBuf, reference: &str) -> Result<RefLock> {
        let mut locks = locks();
        if let Some(held) = locks.get(&key) {
            return Err(held_error(reference, held));
        }
        Ok(Self::insert(&mut locks, key))
    }

    fn insert(locks: &mut BTreeMap<PathBuf, Held>, key: PathBuf) -> RefLock {
        let held = Held {
            since: Utc::now(),
            at: Instant::now(),
        };
        locks.insert(key.clone(), held);
        RefLock { key }
    }
}

impl Drop for RefLock {
    fn drop(&mut self) {
        locks().remove(&self.key);
        RELEASED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    #[test]
    fn second_lock_is_unavailable_until_first_is_dropped() -> Result<()> {
        let key = PathBuf::from("/nonexistent/locks-test/a");
        let first = RefLock::try_acquire(key.clone(), "ref-a")?;
        let err = RefLock::acquire(key.clone(), "ref-a").err();
        assert_eq!(err.as_ref().map(|e| e.kind()), Some(ErrorKind::Unavailable));
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("ref ref-a locked for "), "{message}");
        assert!(message.contains("(since "), "{message}");

        let other = RefLock::try_acquire(PathBuf::from("/nonexistent/locks-test/b"), "ref-b")?;
        drop(first);
        let again = RefLock::try_acquire(key, "ref-a")?;
        drop((other, again));
        Ok(())
    }

    /// A reopen while the previous writer is still letting go waits for it
    /// instead of failing.
    #[test]
    fn acquire_waits_for_a_release() -> Result<()> {
        let key = PathBuf::from("/nonexistent/locks-test/c");
        let first = RefLock::try_acquire(key.clone(), "ref-c")?;
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = taken_tx.send(());
            RefLock::acquire(PathBuf::from("/nonexistent/locks-test/c"), "ref-c").map(drop)
        });
        let _ = taken_rx.recv();
        std::thread::sleep(Duration::from_millis(5));
        drop(first);
        let result = waiter
            .join()
            .map_err(|_| Error::internal("waiter panicked"))?;
        assert!(result.is_ok(), "{result:?}");
        drop(RefLock::try_acquire(key, "ref-c")?);
        Ok(())
    }
}
