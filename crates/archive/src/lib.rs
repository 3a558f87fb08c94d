//! crated's layer archives, the equivalent of containerd's `archive`
//! package: applying OCI layer tar streams onto directories (with OCI
//! whiteouts, or converted to overlayfs' whiteout form), computing layers
//! as the difference of two directories or from an overlayfs upper
//! directory, and layer compression (gzip, zstd).
//!
//! Everything here is blocking I/O; async callers run it on a blocking
//! thread. Layers are streamed: nothing holds a whole layer in memory.
//!
//! ```no_run
//! # fn main() -> crated_core::Result<()> {
//! use crated_archive::{ApplyOptions, apply, decompress};
//! let blob = std::fs::File::open("layer.tar.gz").unwrap();
//! let (_compression, tar) = decompress(blob)?;
//! let stats = apply(tar, "/var/lib/crated/snapshots/1/fs".as_ref(), ApplyOptions::default())?;
//! println!("diff id {}", stats.diff_id);
//! # Ok(())
//! # }
//! ```

mod apply;
pub mod compression;
mod diff;
mod digest;
mod error;
mod fsops;
mod names;
mod readahead;
mod resolve;

pub use apply::{ApplyOptions, ApplyStats, Whiteouts, apply};
pub use compression::{Compression, Compressor, decompress, decompress_media_type};
pub use diff::{DiffStats, diff, diff_overlay_upper};
