//! What a containerd root holds, read without changing anything: the
//! namespaces of its `meta.db` with their labels, images, containers,
//! leases, content records and snapshot records, decoded from
//! containerd's bucket schema (`v1/<namespace>/…`, schema version 3 as
//! containerd 1.x and 2.x write it). Adoption builds on this inventory;
//! [`Inventory::unadoptable`] lists what crated cannot take over, with the
//! reason.

mod decode;
mod inventory;

pub use inventory::{
    Blob, Container, Image, Inventory, Lease, Namespace, Snapshot, Unadoptable, read_meta_db,
};

/// What can go wrong reading a root.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be read.
    #[error(transparent)]
    Bolt(#[from] crated_bolt::Error),
    /// The database holds something containerd would not write.
    #[error("containerd meta.db: {0}")]
    Schema(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
