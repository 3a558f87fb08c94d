//! Image logic shared by the daemon's pull and the client's import and
//! export: media types, OCI and Docker manifests, platform matching, walking
//! an image's content graph, layer chain ids and the two archive formats
//! (OCI image layout and `docker save`). No registry HTTP, no storage: the
//! callers bring those.

pub mod archive;
pub mod chain;
pub mod manifest;
pub mod media;
pub mod platform;
pub mod walk;

pub use manifest::{ImageConfig, Index, Manifest};
pub use platform::Platform;
