//! A snapshotter that answers every call with an error: what a check
//! holds while (or after failing) reopening the real one.

use std::collections::HashMap;

use crated_core::mount::Mount;
use crated_core::snapshot::{Info, Snapshotter, Usage};
use crated_core::{Error, Result};

/// The closed snapshotter.
pub(crate) struct Closed;

fn closed<T>() -> Result<T> {
    Err(Error::unavailable(
        "the snapshotter is closed (reopening it failed)",
    ))
}

impl Snapshotter for Closed {
    fn stat(&self, _: &str) -> Result<Info> {
        closed()
    }

    fn update(&self, _: Info, _: &[String]) -> Result<Info> {
        closed()
    }

    fn usage(&self, _: &str) -> Result<Usage> {
        closed()
    }

    fn mounts(&self, _: &str) -> Result<Vec<Mount>> {
        closed()
    }

    fn prepare(&self, _: &str, _: &str, _: HashMap<String, String>) -> Result<Vec<Mount>> {
        closed()
    }

    fn view(&self, _: &str, _: &str, _: HashMap<String, String>) -> Result<Vec<Mount>> {
        closed()
    }

    fn commit(&self, _: &str, _: &str, _: HashMap<String, String>) -> Result<()> {
        closed()
    }

    fn remove(&self, _: &str) -> Result<()> {
        closed()
    }

    fn walk(&self, _: &mut dyn FnMut(&Info) -> Result<()>) -> Result<()> {
        closed()
    }
}
