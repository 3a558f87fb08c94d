//! The shim's compatibility tests over the test kit: a private containerd
//! (Debian's) with this package's `containerd-shim-crated-v1` first on its
//! `PATH` (see `crated_testkit::containerd`).

pub use crated_testkit::cmd::{feed_stdin as feed, wait_output as wait};
pub use crated_testkit::containerd::{Containerd, NAMESPACE};

/// The runtime name of our shim.
pub const RUNTIME: &str = "io.containerd.crated.v1";

/// Starts a private containerd with this package's shim linked under each of
/// `names` on its `PATH`.
#[track_caller]
pub fn containerd(names: &[&str]) -> Containerd {
    Containerd::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_containerd-shim-crated-v1")),
        names,
    )
}
