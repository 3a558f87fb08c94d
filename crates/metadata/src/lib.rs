//! crated's metadata store: an embedded ACID database (redb) holding, per
//! namespace, content references, leases and their resources, ingests, and
//! the tables images, containers and snapshots use. Bytes live in the
//! content store and are shared; visibility is per namespace.
//!
//! redb was chosen because it is a pure-Rust, well-maintained, crash-safe
//! (copy-on-write B-trees, atomic commits) embedded store with the same
//! one-writer/many-readers model as containerd's bbolt.

mod containers;
mod content;
mod content_view;
mod db;
mod error;
pub mod fsck;
pub mod gc;
mod images;
mod keys;
mod leases;
mod namespaces;
mod objects;
mod records;
mod snapshots;
mod snapshotter;
#[cfg(test)]
mod testutil;

pub use containers::Containers;
pub use content::{NamespacedContent, NamespacedWriter};
pub use content_view::NamespacedContentStore;
pub use db::Db;
pub use error::DbError;
pub use images::Images;
pub use leases::{Lease, LeaseResource, Leases};
pub use namespaces::{Namespace, Namespaces};
pub use records::BlobRecord;
pub use snapshots::NamespacedSnapshots;
pub use snapshotter::NamespacedSnapshotter;
