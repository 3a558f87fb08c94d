//! The fault-injection suite: SIGKILL crated (and, separately, a shim) at
//! random points during pulls (ctr's client-side pull and crated's
//! Transfer pull, from a local registry), image imports, content writes,
//! container create/start/delete, image delete + collection and lease
//! delete, then restart it on the same directories and check everything
//! the suite's inventory checks (`crated_e2e::faults::inventory`): the
//! daemon starts; every blob an image references is there and hashes right;
//! after a collection no snapshot directory, blob, ingest, mount, shim,
//! runtime container, cgroup or bundle is left without a record, and none
//! with a record is missing; a running task is still managed (`ps`, and at
//! the end kill and its exit); exits made while the daemon was down are
//! published; what a client saw succeed is still there; and what was
//! interrupted can be done again.
//!
//! The run is seeded: the seed is printed and `CRATED_FAULT_SEED=<seed>`
//! replays it. `CRATED_FAULT_POINTS` sets the number of kill points (30 by
//! default, the short form CI runs; `scripts/fault-injection.sh` runs the
//! long form). The last line printed is the summary: kill points, losses,
//! leaks, failed requests.
//!
//! **Needs root** (see `crated_e2e::Daemon`), Debian's `containerd` (`ctr`),
//! `docker-registry`, `busybox-static` and runc.

mod ops;
mod world;

use world::World;

use crated_e2e::faults::{Rng, Tally, count_from_env, seed_from_env};

/// Kill points of the short form.
const SHORT_FORM_POINTS: usize = 30;

/// SIGKILLs the daemon or a shim at `CRATED_FAULT_POINTS` random points and
/// checks, after each, that nothing was lost or leaked. Needs root.
#[test]
fn sigkill_at_random_points_loses_and_leaks_nothing() {
    let seed = seed_from_env();
    let points = count_from_env("CRATED_FAULT_POINTS", SHORT_FORM_POINTS);
    eprintln!(
        "fault-injection: seed {seed}, {points} kill points (CRATED_FAULT_SEED={seed} replays this run)"
    );
    let mut rng = Rng::new(seed);
    let mut tally = Tally::new(seed);
    let mut world = World::set_up();
    for point in 1..=points {
        world.kill_point(point, &mut rng, &mut tally);
    }
    world.finish(&mut tally);
    let summary = tally.summary();
    eprintln!("{summary}");
    if let Some(path) = std::env::var_os("CRATED_FAULT_SUMMARY") {
        std::fs::write(&path, format!("{summary}\n"))
            .unwrap_or_else(|e| panic!("writing the summary to {path:?}: {e}"));
    }
    let findings: Vec<String> = tally
        .findings
        .iter()
        .map(|(point, op, f)| format!("point {point} ({op}): {f}"))
        .collect();
    assert!(
        findings.is_empty(),
        "{summary}\n{}\nreplay with CRATED_FAULT_SEED={seed}",
        findings.join("\n")
    );
    assert_eq!(tally.points(), points, "every kill point ran");
}
