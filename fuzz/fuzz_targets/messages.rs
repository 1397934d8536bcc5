//! Fuzz target `messages`: see `conntrack_wire::testing::fuzz::messages`, shared with the corpus
//! replay test of `conntrack-wire`.
#![no_main]
use conntrack_wire::testing::fuzz as bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::messages(data));
