//! In-process locks on ingest refs: one writer per ref at a time.
//!
//! Locks are process-wide and keyed by the ingest directory, so two
//! `LocalStore` values opened on the same root exclude each other while
//! stores on different roots do not. A crashed process holds no locks, which
//! is why an ingest on disk can always be resumed after a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::thread;
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

/// How long to wait before each retry of a held lock; a writer that is just
/// being dropped releases its ref within this time.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(4),
    Duration::from_millis(8),
];

fn locks() -> MutexGuard<'static, BTreeMap<PathBuf, Held>> {
    // The map stays consistent even if a holder panicked: every operation
    // is a single insert or remove.
    LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A held lock on one ingest ref, released on drop.
#[derive(Debug)]
pub(crate) struct RefLock {
    key: PathBuf,
}

impl RefLock {
    /// Takes the lock on `key` (the ingest directory of `reference`), retrying
    /// briefly; `Unavailable` saying since when it is held otherwise.
    pub(crate) fn acquire(key: PathBuf, reference: &str) -> Result<RefLock> {
        let mut result = Self::try_acquire(key.clone(), reference);
        for delay in BACKOFF {
            if result.is_ok() {
                break;
            }
            thread::sleep(delay);
            result = Self::try_acquire(key.clone(), reference);
        }
        result
    }

    /// Takes the lock on `key` once, without waiting.
    pub(crate) fn try_acquire(key: PathBuf, reference: &str) -> Result<RefLock> {
        let mut locks = locks();
        if let Some(held) = locks.get(&key) {
            return Err(Error::unavailable(format!(
                "ref {reference} locked for {:?} (since {})",
                held.at.elapsed(),
                format_time(held.since)
            )));
        }
        let held = Held {
            since: Utc::now(),
            at: Instant::now(),
        };
        locks.insert(key.clone(), held);
        Ok(RefLock { key })
    }
}

impl Drop for RefLock {
    fn drop(&mut self) {
        locks().remove(&self.key);
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
}
