//! Fuzz target `bpf`: see `conntrack_wire::testing::fuzz::bpf`, shared with the corpus
//! replay test of `conntrack-wire`.
#![no_main]
use conntrack_wire::testing::fuzz as bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::bpf(data));
