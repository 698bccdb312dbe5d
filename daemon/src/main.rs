//! The `microcid` binary: argument parsing only; everything else lives in the library.
fn main() {}
