//! The content-store conformance suite, modelled on containerd's content
//! test suite: the behaviour every content store (the local store, the
//! metadata layer's namespaced view) must show through the core traits.
//!
//! Each check gets a fresh store made by a factory on an empty directory,
//! removed after the check. [`content_suite!`](crate::content_suite) gives
//! one `#[test]` per check; [`content_label_suite!`](crate::content_label_suite)
//! adds the label checks for stores that keep labels.

mod checks;
mod labels;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crated_core::content::ContentStore;

/// Makes a content store on the given empty directory.
pub type Factory<'a> = dyn Fn(&Path) -> crated_core::Result<Box<dyn ContentStore>> + 'a;

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
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

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string())
    }
}

/// What a check returns.
pub type CheckResult = Result<(), Failure>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its name (also the test's name under the suite macros).
    pub name: &'static str,
    /// The check.
    pub run: fn(&dyn ContentStore) -> CheckResult,
}

/// Every check every content store must pass.
pub const CHECKS: &[Check] = &[
    Check {
        name: "writer",
        run: checks::writer,
    },
    Check {
        name: "update_status",
        run: checks::update_status,
    },
    Check {
        name: "commit_exists",
        run: checks::commit_exists,
    },
    Check {
        name: "writer_for_existing_blob",
        run: checks::writer_for_existing_blob,
    },
    Check {
        name: "resume",
        run: checks::resume,
    },
    Check {
        name: "resume_truncate",
        run: checks::resume_truncate,
    },
    Check {
        name: "resume_discard",
        run: checks::resume_discard,
    },
    Check {
        name: "small_and_empty_blobs",
        run: checks::small_and_empty_blobs,
    },
    Check {
        name: "commit_error_state",
        run: checks::commit_error_state,
    },
    Check {
        name: "ref_locking",
        run: checks::ref_locking,
    },
    Check {
        name: "status_list_abort",
        run: checks::status_list_abort,
    },
    Check {
        name: "reader_at",
        run: checks::reader_at,
    },
    Check {
        name: "list_and_delete",
        run: checks::list_and_delete,
    },
    Check {
        name: "bad_digests",
        run: checks::bad_digests,
    },
];

/// The checks of stores that keep labels.
pub const LABEL_CHECKS: &[Check] = &[
    Check {
        name: "labels",
        run: labels::labels,
    },
    Check {
        name: "labels_survive_rewrite",
        run: labels::labels_survive_rewrite,
    },
];

/// Runs `check` on a store made by `factory` in a new temporary directory
/// (removed after). A panic in the check is a failure too.
pub fn run_check(factory: &Factory<'_>, check: &Check) -> CheckResult {
    let dir = tempfile::Builder::new()
        .prefix(&format!("content-{}-", check.name))
        .tempdir()?;
    let store = factory(dir.path()).map_err(|e| Failure::new(format!("making the store: {e}")))?;
    match catch_unwind(AssertUnwindSafe(|| (check.run)(store.as_ref()))) {
        Ok(r) => r,
        Err(_) => Err(Failure::new("the check panicked")),
    }
}

/// Runs the check named `name` (of [`CHECKS`] or [`LABEL_CHECKS`]).
pub fn run_named(factory: &Factory<'_>, name: &str) -> Result<(), String> {
    let check = CHECKS
        .iter()
        .chain(LABEL_CHECKS)
        .find(|c| c.name == name)
        .ok_or_else(|| format!("no content check named {name}"))?;
    run_check(factory, check).map_err(|e| format!("{name}: {e}"))
}

#[doc(hidden)]
#[macro_export]
macro_rules! __content_suite_tests {
    ($factory:expr; $attrs:tt; $($name:ident),* $(,)?) => {
        $(
            $crate::__content_suite_test!($factory; $attrs; $name);
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __content_suite_test {
    ($factory:expr; [$(#[$attr:meta])*]; $name:ident) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            if let Err(e) = $crate::testsuite::run_named(&$factory, stringify!($name)) {
                panic!("{e}");
            }
        }
    };
}

/// One `#[test]` per check of [`CHECKS`] on stores made by `$factory`
/// (a `fn(&Path) -> crated_core::Result<Box<dyn ContentStore>>`), with
/// optional attributes for every test.
///
/// ```ignore
/// crated_content::content_suite!(make_store);
/// ```
#[macro_export]
macro_rules! content_suite {
    ($factory:expr $(; $(#[$attr:meta])*)?) => {
        $crate::__content_suite_tests!($factory; [$($(#[$attr])*)?];
            writer, update_status, commit_exists, writer_for_existing_blob, resume,
            resume_truncate, resume_discard, small_and_empty_blobs, commit_error_state,
            ref_locking, status_list_abort, reader_at, list_and_delete, bad_digests,
        );
    };
}

/// One `#[test]` per check of [`LABEL_CHECKS`], for stores that keep labels.
#[macro_export]
macro_rules! content_label_suite {
    ($factory:expr $(; $(#[$attr:meta])*)?) => {
        $crate::__content_suite_tests!($factory; [$($(#[$attr])*)?];
            labels, labels_survive_rewrite,
        );
    };
}

/// Fails the check with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::testsuite::Failure::new(format!($($arg)+)));
        }
    };
}
pub(crate) use ensure;

/// Fails unless `result` is an error of kind `kind`.
pub(crate) fn expect_kind<T>(
    what: &str,
    result: crated_core::Result<T>,
    kind: crated_core::ErrorKind,
) -> CheckResult {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(Failure::new(format!(
            "{what}: want a {kind:?} error, got {:?}: {e}",
            e.kind()
        ))),
        Ok(_) => Err(Failure::new(format!(
            "{what}: want a {kind:?} error, got success"
        ))),
    }
}
