//! GitLab webhook deliveries: `inspect` → `verify` → `interpret` with the checks in
//! `microci_fuzz::webhook`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use microcid::forge::Forge;

fuzz_target!(|data: &[u8]| microci_fuzz::webhook::run(Forge::Gitlab, None, data));
