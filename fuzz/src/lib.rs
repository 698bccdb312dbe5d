//! Shared pieces of microci's fuzz targets: the input layout that puts a few `arbitrary` knobs
//! before a document (so seeds stay readable), the webhook harness every forge target runs, and
//! small text checks.
//!
//! Input layout for targets with knobs: byte 0 is a length `n`; the next `n` bytes are read by
//! `arbitrary` into the target's knob struct (missing bytes read as zeros, so `n = 0` gives every
//! knob its first variant, `false`, `0` or `None`); everything after them is the document.

pub mod webhook;

use arbitrary::{Arbitrary, Unstructured};
use std::sync::OnceLock;

/// True when `MICROCI_FUZZ_DEBUG` is set: targets then print what they made of each input, which
/// helps when writing seeds or reading a crash (`cargo fuzz run <target> <file>`).
pub fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("MICROCI_FUZZ_DEBUG").is_some())
}

/// Splits an input into its knobs and its document (see the crate docs); `None` for an empty
/// input or knob bytes `arbitrary` cannot read.
pub fn split_knobs<'a, K: Arbitrary<'a>>(data: &'a [u8]) -> Option<(K, &'a [u8])> {
    let (&n, rest) = data.split_first()?;
    let n = usize::from(n).min(rest.len());
    let (knobs, document) = rest.split_at(n);
    let knobs = K::arbitrary(&mut Unstructured::new(knobs)).ok()?;
    Some((knobs, document))
}

/// The first control character in `s` (C0, DEL or C1), if any.
pub fn first_control(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// Panics when `s` holds a control character: text that reaches a log line, an HTTP reply or a
/// terminal must not carry one (it could forge lines or drive the terminal).
pub fn assert_no_control(what: &str, s: &str) {
    if let Some(c) = first_control(s) {
        panic!("{what} contains the control character {c:?}: {s:?}");
    }
}
