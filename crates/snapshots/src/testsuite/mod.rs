//! The snapshotter conformance suite, modelled on containerd's
//! `snapshots/testsuite`: one set of checks every snapshotter (and a proxy
//! to one) must pass.
//!
//! Each check gets a fresh snapshotter made by a factory on an empty root,
//! and a scratch `work` directory for mount points. Checks that look at
//! file contents really mount what the snapshotter returns (through
//! `crated_mount`), so running the suite needs root. Every mount a check
//! makes is undone by a guard, and whatever is still mounted below the
//! check's directory is unmounted before it is removed, even when the
//! check fails or panics.
//!
//! Use [`snapshotter_suite!`](crate::snapshotter_suite) to get one
//! `#[test]` per check, or [`run_all`] for a [`Report`].

/// Fails the check with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::testsuite::Failure::new(format!($($arg)+)));
        }
    };
}

mod closed;
pub mod fstest;
mod helpers;
mod layers;
mod rules;
mod workflow;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crated_core::snapshot::Snapshotter;

pub use helpers::Mounted;

/// Makes a snapshotter on the given (empty or previously used) root.
pub type Factory<'a> = dyn Fn(&Path) -> crated_core::Result<Box<dyn Snapshotter>> + 'a;

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }

    /// The same failure with `what` in front.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Failure(format!("{what}: {}", self.0))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

impl From<crated_core::Error> for Failure {
    fn from(e: crated_core::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<crated_mount::MountError> for Failure {
    fn from(e: crated_mount::MountError) -> Self {
        Failure(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string())
    }
}

/// The outcome of one check.
pub type CheckResult = Result<(), Failure>;

/// What a check works with.
pub struct Env<'a> {
    root: PathBuf,
    work: PathBuf,
    factory: &'a Factory<'a>,
    sn: Box<dyn Snapshotter>,
}

impl Env<'_> {
    /// The snapshotter under test.
    pub fn sn(&self) -> &dyn Snapshotter {
        self.sn.as_ref()
    }

    /// The snapshotter's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A directory for mount points and reference trees.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// Closes the snapshotter and opens a new one on the same root, as a
    /// restarted daemon would. If that fails, the snapshotter answers
    /// every call with an error.
    pub fn reopen(&mut self) -> CheckResult {
        // The old one must be closed before the new one opens the metastore.
        self.sn = Box::new(closed::Closed);
        self.sn = (self.factory)(&self.root).map_err(|e| Failure::from(e).context("reopening"))?;
        Ok(())
    }
}

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its name (also the test's name under [`snapshotter_suite!`](crate::snapshotter_suite)).
    pub name: &'static str,
    /// The check.
    pub run: fn(&mut Env<'_>) -> CheckResult,
}

macro_rules! define_checks {
    ($($name:ident = $f:path),* $(,)?) => {
        /// Every check of the suite.
        pub const CHECKS: &[Check] = &[$(Check { name: stringify!($name), run: $f }),*];
    };
}
crate::__snapshotter_checks!((define_checks)());

/// Unmounts what is left below a check's directory, then removes it (or
/// keeps it if something stays mounted, rather than deleting through it).
struct ScratchGuard(Option<tempfile::TempDir>);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = crated_mount::unmount_under(dir.path())
        {
            eprintln!("keeping {}: {e}", dir.path().display());
            let _ = dir.keep();
        }
    }
}

/// Runs `check` on a snapshotter made by `factory` in a new directory
/// under `scratch` (which must be on a filesystem the snapshotter works
/// on). A panic in the check is a failure too.
pub fn run_check(scratch: &Path, factory: &Factory<'_>, check: &Check) -> CheckResult {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", check.name))
        .tempdir_in(scratch)
        .map_err(|e| {
            Failure::new(format!(
                "creating a directory in {}: {e}",
                scratch.display()
            ))
        })?;
    let guard = ScratchGuard(Some(dir));
    let base = guard
        .0
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .unwrap_or_default();
    let (root, work) = (base.join("root"), base.join("work"));
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&work)?;
    let sn = factory(&root).map_err(|e| Failure::from(e).context("creating the snapshotter"))?;
    let mut env = Env {
        root,
        work,
        factory,
        sn,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| (check.run)(&mut env)));
    drop(env);
    drop(guard);
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Failure::new(format!("panicked: {what}")))
        }
    }
}

/// Runs the check called `name`.
pub fn run_named(scratch: &Path, factory: &Factory<'_>, name: &str) -> CheckResult {
    let check = CHECKS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Failure::new(format!("no check named {name:?}")))?;
    run_check(scratch, factory, check)
}

/// What [`run_all`] found.
#[derive(Debug, Default)]
pub struct Report {
    /// Checks that passed.
    pub passed: Vec<&'static str>,
    /// Checks that failed, with why.
    pub failed: Vec<(&'static str, Failure)>,
}

impl Report {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, why) in &self.failed {
            writeln!(f, "FAILED {name}: {why}")?;
        }
        write!(
            f,
            "{} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        )
    }
}

/// Runs every check, one after the other.
pub fn run_all(scratch: &Path, factory: &Factory<'_>) -> Report {
    let mut report = Report::default();
    for check in CHECKS {
        match run_check(scratch, factory, check) {
            Ok(()) => report.passed.push(check.name),
            Err(e) => report.failed.push((check.name, e)),
        }
    }
    report
}

/// Lists the checks as `name = function` for `$callback`.
#[doc(hidden)]
#[macro_export]
macro_rules! __snapshotter_checks {
    (($($callback:tt)*)($($args:tt)*)) => {
        $($callback)*!($($args)*
            basic = $crate::testsuite::workflow::basic,
            stat_active = $crate::testsuite::workflow::stat_active,
            stat_committed = $crate::testsuite::workflow::stat_committed,
            transitivity = $crate::testsuite::workflow::transitivity,
            prepare_view_same_key = $crate::testsuite::workflow::prepare_view_same_key,
            view_readonly = $crate::testsuite::workflow::view_readonly,
            root_permission = $crate::testsuite::workflow::root_permission,
            mounts_are_stable = $crate::testsuite::workflow::mounts_are_stable,
            walk = $crate::testsuite::workflow::walk,
            stat_in_walk = $crate::testsuite::workflow::stat_in_walk,
            update = $crate::testsuite::rules::update,
            labels = $crate::testsuite::rules::labels,
            remove = $crate::testsuite::rules::remove,
            remove_intermediate_snapshot = $crate::testsuite::rules::remove_intermediate_snapshot,
            error_kinds = $crate::testsuite::rules::error_kinds,
            usage = $crate::testsuite::rules::usage,
            reopen = $crate::testsuite::rules::reopen,
            cleanup = $crate::testsuite::rules::cleanup,
            layer_file_update = $crate::testsuite::layers::layer_file_update,
            remove_directory_in_lower_layer = $crate::testsuite::layers::remove_directory_in_lower_layer,
            chown = $crate::testsuite::layers::chown,
            directory_permission_on_commit = $crate::testsuite::layers::directory_permission_on_commit,
            deleted_files_in_child_snapshot = $crate::testsuite::layers::deleted_files_in_child_snapshot,
            move_file_from_lower_layer = $crate::testsuite::layers::move_file_from_lower_layer,
            rename = $crate::testsuite::layers::rename,
            special_files = $crate::testsuite::layers::special_files,
            layers_128_mount = $crate::testsuite::layers::layers_128_mount,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __snapshotter_suite_tests {
    ($attrs:tt $scratch:expr, $factory:expr; $($name:ident = $f:path),* $(,)?) => {
        $(
            $crate::__snapshotter_suite_test!($attrs $name, $scratch, $factory);
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __snapshotter_suite_test {
    ([$(#[$attr:meta])*] $name:ident, $scratch:expr, $factory:expr) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            let scratch: ::std::path::PathBuf = $scratch;
            if let Err(e) = $crate::testsuite::run_named(&scratch, &$factory, stringify!($name)) {
                panic!("{}: {e}", stringify!($name));
            }
        }
    };
}

/// Defines one `#[test]` per check of the suite, each running on a fresh
/// snapshotter made by `$factory` (a `Fn(&Path) -> Result<Box<dyn
/// Snapshotter>>`) in a directory under `$scratch` (an expression giving
/// a `PathBuf`, evaluated by every test).
///
/// Attributes after a `;` go on every test, e.g. the root lane's mark for
/// a backend that needs root:
///
/// ```ignore
/// crated_snapshots::snapshotter_suite!(scratch_dir(), make_native);
/// crated_snapshots::snapshotter_suite!(scratch_dir(), make_overlay; #[ignore = "requires root"]);
/// ```
#[macro_export]
macro_rules! snapshotter_suite {
    ($scratch:expr, $factory:expr $(; $(#[$attr:meta])*)?) => {
        $crate::__snapshotter_checks!(($crate::__snapshotter_suite_tests)([$($(#[$attr])*)?] $scratch, $factory;));
    };
}
