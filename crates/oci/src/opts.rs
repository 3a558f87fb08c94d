//! Options of the caller's own, composable the way containerd's
//! `oci.SpecOpts` are: each one edits the spec in turn.

use oci_spec::runtime::Spec;

use crate::error::Result;

/// What an option knows about the container whose spec it edits.
#[derive(Debug, Clone, Copy)]
pub struct SpecContext<'a> {
    /// The container's namespace.
    pub namespace: &'a str,
    /// The container's id.
    pub id: &'a str,
}

/// One edit of a runtime spec: containerd's `oci.SpecOpts`. Implement it,
/// or pass a closure `Fn(&SpecContext, &mut Spec) -> Result<()>`, to
/// [`crate::SpecBuilder::with`].
pub trait SpecOpt: Send + Sync {
    /// Applies the option to `spec`.
    fn apply(&self, ctx: &SpecContext<'_>, spec: &mut Spec) -> Result<()>;
}

impl<F> SpecOpt for F
where
    F: Fn(&SpecContext<'_>, &mut Spec) -> Result<()> + Send + Sync,
{
    fn apply(&self, ctx: &SpecContext<'_>, spec: &mut Spec) -> Result<()> {
        self(ctx, spec)
    }
}
