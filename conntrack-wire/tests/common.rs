//! Shared helpers of the fixture tests.
#![allow(dead_code)]

use conntrack_wire::{Message, Messages};

/// Every fixture file, by name, as captured by `cargo xtask fixtures`.
pub const FIXTURES: &[(&str, &[u8])] = &[
    ("dump_ct.bin", include_bytes!("fixtures/dump_ct.bin")),
    (
        "dump_ct_mark.bin",
        include_bytes!("fixtures/dump_ct_mark.bin"),
    ),
    ("dump_exp.bin", include_bytes!("fixtures/dump_exp.bin")),
    ("stats_cpu.bin", include_bytes!("fixtures/stats_cpu.bin")),
    ("stats.bin", include_bytes!("fixtures/stats.bin")),
    (
        "exp_stats_cpu.bin",
        include_bytes!("fixtures/exp_stats_cpu.bin"),
    ),
    ("get_reply.bin", include_bytes!("fixtures/get_reply.bin")),
    ("acks.bin", include_bytes!("fixtures/acks.bin")),
    ("errors.bin", include_bytes!("fixtures/errors.bin")),
    ("events.bin", include_bytes!("fixtures/events.bin")),
];

/// Returns a fixture's bytes.
pub fn fixture(name: &str) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .expect("fixture exists")
}

/// Returns every message of a fixture, panicking on a parse error.
pub fn messages(bytes: &[u8]) -> Vec<Message<'_>> {
    Messages::new(bytes)
        .map(|m| m.expect("fixture message parses"))
        .collect()
}
