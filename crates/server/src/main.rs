//! crated.
fn main() {}
