//! Waiting for a content ref that another writer holds: containerd's
//! `content.OpenWriter` retries a locked ref (`Unavailable`) with a
//! growing, jittered delay, because a locked ref means someone else is
//! fetching the same blob; once they commit it, the blob is there to use.

use std::future::Future;
use std::time::Duration;

use crated_core::{ErrorKind, Result};

/// The longest a writer waits for another writer of the same ref.
pub const LOCK_WAIT: Duration = Duration::from_secs(10 * 60);

/// The first delay between two attempts; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(16);
/// The longest delay between two attempts (containerd's 2048 ms).
const MAX_DELAY: Duration = Duration::from_millis(2048);

/// Opens a writer with `open`, trying again while the ref is locked by
/// another writer (`Unavailable`), for at most [`LOCK_WAIT`]. Once the
/// other writer is done, `open` answers `AlreadyExists` if it committed
/// the blob (the content store then adds the blob to the caller's lease
/// and namespace), or a writer if it gave up. Other errors, and the lock
/// error once the wait is over, are returned as they are.
pub async fn wait_for_ref<W, O>(mut open: O) -> Result<W>
where
    O: FnMut() -> Result<W>,
{
    wait_with(&mut open, LOCK_WAIT, tokio::time::sleep).await
}

async fn wait_with<W, O, S, F>(open: &mut O, limit: Duration, mut sleep: S) -> Result<W>
where
    O: FnMut() -> Result<W>,
    S: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut delay = FIRST_DELAY;
    let mut waited = Duration::ZERO;
    loop {
        match open() {
            Err(e) if e.kind() == ErrorKind::Unavailable && waited < limit => {
                let jittered = jitter(delay);
                tracing::debug!(error = %e, delay = ?jittered, "content ref locked; waiting");
                sleep(jittered).await;
                waited += jittered;
                delay = (delay * 2).min(MAX_DELAY);
            }
            other => return other,
        }
    }
}

/// A delay between half and all of `d`, so waiters do not retry in step.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(d.as_nanos() as u64);
    let half = d / 2;
    let nanos = half.as_nanos().max(1) as u64;
    half + Duration::from_nanos(h.finish() % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;
    use crated_core::Error;
    use std::cell::Cell;

    #[test]
    fn retries_while_locked_then_answers_what_open_says() {
        let attempts = Cell::new(0);
        let mut open = || -> Result<()> {
            attempts.set(attempts.get() + 1);
            match attempts.get() {
                1..=3 => Err(Error::unavailable("ref locked")),
                _ => Err(Error::already_exists("content sha256:ab")),
            }
        };
        let err = block_on(wait_with(&mut open, LOCK_WAIT, |_| async {})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(attempts.get(), 4);
        let mut ok = || -> Result<u8> { Ok(7) };
        assert_eq!(
            block_on(wait_with(&mut ok, LOCK_WAIT, |_| async {})).unwrap(),
            7
        );
    }

    #[test]
    fn gives_up_after_the_bound_and_passes_other_errors() {
        let mut open = || -> Result<()> { Err(Error::unavailable("ref locked")) };
        let err = block_on(wait_with(
            &mut open,
            Duration::from_millis(100),
            |_| async {},
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let attempts = Cell::new(0);
        let mut other = || -> Result<()> {
            attempts.set(attempts.get() + 1);
            Err(Error::not_found("gone"))
        };
        let err = block_on(wait_with(&mut other, LOCK_WAIT, |_| async {})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(attempts.get(), 1);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for ms in [1, 16, 2048] {
            let d = Duration::from_millis(ms);
            let j = jitter(d);
            assert!(j >= d / 2 && j <= d, "{j:?} for {d:?}");
        }
    }
}
