//! cratectl.
fn main() {}
