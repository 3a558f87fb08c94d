//! crated's core: domain types, one trait per plugin type, the error
//! vocabulary, identifier validation and containerd's filter language.
//!
//! Nothing here performs I/O or picks an async runtime.

pub mod container;
pub mod content;
pub mod digest;
pub mod errconv;
pub mod error;
pub mod filters;
pub mod identifiers;
pub mod image;
pub mod media;
pub mod mount;
pub mod serde_bytes_b64;
pub mod snapshot;

pub use error::{Error, ErrorKind, HasKind, Result};
