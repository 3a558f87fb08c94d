//! Image logic shared by the daemon's pull and the client's import and
//! export: media types, OCI and Docker manifests, platform matching, walking
//! an image's content graph, layer chain ids, the two archive formats
//! (OCI image layout and `docker save`) and the one image [`pipeline`]
//! (resolve, unpack, waiting on a locked ref). No registry HTTP, no
//! storage: the callers bring those through the pipeline's ports.

pub mod archive;
pub mod chain;
pub mod manifest;
pub mod media;
pub mod pipeline;
pub mod platform;
pub mod walk;

#[cfg(test)]
mod test_support;

pub use manifest::{ImageConfig, Index, Manifest};
pub use platform::Platform;
