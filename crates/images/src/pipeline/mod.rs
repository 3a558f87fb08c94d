//! The one image pipeline: resolve an image (index → manifest → config)
//! for a platform, unpack its layers into a snapshotter (chain ids, diff-id
//! verification, the `containerd.io/gc.ref.snapshot.*` label), and wait
//! for a content ref another writer holds.
//!
//! It is written once against small async ports — [`ContentSource`] (read
//! a blob with a size bound, add labels) and [`LayerTarget`] (a
//! snapshotter plus an applier) — that the daemon implements over its
//! namespaced stores (the Transfer service) and the client over gRPC
//! (import, unpack, container creation). Where the two copies of this
//! logic used to differ, containerd's `core/unpack` and `core/images`
//! behaviour was kept.

mod ingest;
mod resolve;
mod unpack;

#[cfg(test)]
pub(crate) use resolve::too_large as resolve_too_large;

pub use ingest::{LOCK_WAIT, wait_for_ref};
pub use resolve::{
    ContentSource, MAX_DOCUMENT, MAX_INDEX_DEPTH, Resolved, check_depth, read_document, resolve,
    resolve_all,
};
pub use unpack::{
    LayerGate, LayerTarget, Ready, SNAPSHOT_REF_LABEL, Unpacked, extract_key, gc_snapshot_label,
    label_config, unpack, unpack_layer,
};
