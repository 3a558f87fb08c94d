//! The fault-injection kit: a seeded random source (so a failing run can be
//! replayed from its printed seed), the tally of kill points and of what
//! the checks found, and the host-side inventory of what a daemon left on
//! disk and in the process table (see [`inventory`]).

pub mod inventory;

use std::fmt;

/// A small, seeded pseudo-random source (splitmix64): the same seed gives
/// the same kill points, operations and delays.
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A source starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (None if it is empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let len = u64::try_from(items.len()).ok()?;
        let i = usize::try_from(self.below(len)).ok()?;
        items.get(i)
    }
}

/// The seed of a run: `CRATED_FAULT_SEED` if set (to replay a run), else
/// one drawn from the clock and the pid.
pub fn seed_from_env() -> u64 {
    if let Some(seed) = std::env::var("CRATED_FAULT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// A number from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// What a check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Something acknowledged or referenced is gone or corrupt (a blob an
    /// image needs, a committed write, a record's directory, a task that is
    /// no longer managed, an exit that was never published).
    Loss(String),
    /// Something is left without a record after a collection (a snapshot
    /// directory, blob, ingest, mount, shim, runtime container, cgroup or
    /// bundle).
    Leak(String),
    /// A request that must work after a restart failed (a retried pull, the
    /// removal of a half-made container).
    Error(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Loss(what) => write!(f, "loss: {what}"),
            Finding::Leak(what) => write!(f, "leak: {what}"),
            Finding::Error(what) => write!(f, "error: {what}"),
        }
    }
}

/// The counts of a run and every finding, each with the kill point it
/// followed.
#[derive(Debug, Default)]
pub struct Tally {
    /// The seed the run used.
    pub seed: u64,
    /// Kill points of the daemon.
    pub daemon_kills: usize,
    /// Kill points of a shim.
    pub shim_kills: usize,
    /// Kill points that came after the operation had already finished.
    pub after_completion: usize,
    /// Task exits made while the daemon was down.
    pub exits_while_down: usize,
    /// Kill points per operation name.
    pub per_operation: std::collections::BTreeMap<String, usize>,
    /// (kill point number, operation, finding).
    pub findings: Vec<(usize, String, Finding)>,
}

impl Tally {
    /// A tally for a run with `seed`.
    pub fn new(seed: u64) -> Tally {
        Tally {
            seed,
            ..Tally::default()
        }
    }

    /// All kill points so far.
    pub fn points(&self) -> usize {
        self.daemon_kills + self.shim_kills
    }

    /// Records what a check after kill point `point` (during `op`) found.
    pub fn record(&mut self, point: usize, op: &str, found: Vec<Finding>) {
        for finding in found {
            eprintln!("fault-injection: point {point} ({op}): {finding}");
            self.findings.push((point, op.to_string(), finding));
        }
    }

    fn count(&self, pred: impl Fn(&Finding) -> bool) -> usize {
        self.findings.iter().filter(|(_, _, f)| pred(f)).count()
    }

    /// Findings that are losses.
    pub fn losses(&self) -> usize {
        self.count(|f| matches!(f, Finding::Loss(_)))
    }

    /// Findings that are leaks.
    pub fn leaks(&self) -> usize {
        self.count(|f| matches!(f, Finding::Leak(_)))
    }

    /// Findings that are failed requests.
    pub fn errors(&self) -> usize {
        self.count(|f| matches!(f, Finding::Error(_)))
    }

    /// The one-line summary the suite prints.
    pub fn summary(&self) -> String {
        let ops: Vec<String> = self
            .per_operation
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect();
        format!(
            "fault-injection summary: seed={} kill_points={} (daemon={} shim={}) after_completion={} exits_while_down={} losses={} leaks={} errors={} ops[{}]",
            self.seed,
            self.points(),
            self.daemon_kills,
            self.shim_kills,
            self.after_completion,
            self.exits_while_down,
            self.losses(),
            self.leaks(),
            self.errors(),
            ops.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(first, second);
        let mut c = Rng::new(43);
        assert_ne!(first[0], c.next_u64());
        assert!((0..100).all(|_| a.below(7) < 7));
    }

    #[test]
    fn the_summary_counts_each_kind() {
        let mut tally = Tally::new(7);
        tally.daemon_kills = 2;
        tally.shim_kills = 1;
        tally.record(
            1,
            "pull",
            vec![Finding::Leak("x".into()), Finding::Loss("y".into())],
        );
        let line = tally.summary();
        assert!(line.contains("seed=7 kill_points=3"), "{line}");
        assert!(line.contains("losses=1 leaks=1 errors=0"), "{line}");
    }
}
