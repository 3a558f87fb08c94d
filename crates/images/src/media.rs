//! Media types of image content: containerd's table, kept once in
//! `crated_core::media` and re-exported here for the image code.

pub use crated_core::media::*;
