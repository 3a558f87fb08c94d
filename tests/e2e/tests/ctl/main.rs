//! `cratectl` against a real crated whose `io.containerd.runc.v2` runtime is
//! containerd's Go shim: containers and tasks from busybox root filesystem
//! directories, images through a local registry, image hardening, and
//! `ctr` import/export beside `cratectl` (one test binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod concurrent_pulls;
mod containers;
mod ctr_images;
mod images;
mod images_hardening;
mod transfer;
mod transfer_concurrent;
