//! crated's local content store: content-addressed blobs and resumable
//! ingests on disk, the equivalent of containerd's `content/local` store.
//!
//! [`LocalStore`] implements `crated_core::content`'s `Provider`, `Manager`,
//! `Ingester` and `IngestManager` (and so `ContentStore`). Its layout is
//! containerd's:
//!
//! ```text
//! <root>/blobs/sha256/<hex>          committed blobs, read-only
//! <root>/ingest/<sha256(ref)>/data   bytes written so far
//!                             ref, startedat, updatedat, total, expected
//! ```
//!
//! Only sha256 digests are supported. Writers hold an in-process lock on
//! their ref until they are committed or dropped; an ingest left on disk (by
//! a dropped writer or a crashed process) is resumed by opening a writer with
//! the same ref, which re-hashes the bytes already written.

pub mod digest;
mod fsutil;
mod ingest;
mod locks;
mod reader;
mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod writer;

pub use store::LocalStore;
