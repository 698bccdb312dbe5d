//! The `microci-tui` binary.
fn main() {}
