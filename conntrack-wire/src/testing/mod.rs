//! Test support for this workspace's other crates, the fuzz targets and the benchmarks
//! (feature `testing`, hidden from the docs; not part of the API and never for production).
//!
//! It lives here, in the crate whose tests own the captured fixtures, so that no crate has to
//! reach into another's files: the fixtures are included from this crate's own
//! `tests/fixtures/` (see the provenance note there), and the fuzz targets' bodies are the
//! same functions that `tests/fuzz_corpus.rs` replays on 32-bit targets.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

pub mod fuzz;

/// Fixtures captured from the kernel by `cargo xtask fixtures` (provenance in
/// `tests/fixtures/README.md`).
pub mod fixtures {
    /// A dump of a varied table (`dump_ct.bin`).
    pub const DUMP_CT: &[u8] = include_bytes!("../../tests/fixtures/dump_ct.bin");
    /// Event datagrams: new, update, destroy (`events.bin`).
    pub const EVENTS: &[u8] = include_bytes!("../../tests/fixtures/events.bin");
    /// Error replies with extended acks (`errors.bin`).
    pub const ERRORS: &[u8] = include_bytes!("../../tests/fixtures/errors.bin");
    /// The global statistics reply (`stats.bin`).
    pub const STATS: &[u8] = include_bytes!("../../tests/fixtures/stats.bin");
    /// A get reply (`get_reply.bin`).
    pub const GET_REPLY: &[u8] = include_bytes!("../../tests/fixtures/get_reply.bin");
}
