//! Fuzz target `roundtrip`: see `bodies::roundtrip` (`fuzz/bodies/mod.rs`), shared with the corpus
//! replay test of `conntrack-wire`.
#![no_main]
#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::roundtrip(data));
