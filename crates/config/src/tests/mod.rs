//! Tests of the public API.

mod fixtures;
mod load;
mod model;
