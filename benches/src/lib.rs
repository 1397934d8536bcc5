//! Shared pieces of the benchmarks: the libnetfilter_conntrack peer (C, built by `build.rs`),
//! the header-walking floor, and timing helpers.

use std::time::{Duration, Instant};

unsafe extern "C" {
    fn nfct_peer_dump(family: u8, sum: *mut u64) -> std::os::raw::c_long;
    fn nfct_peer_parse(buf: *const u8, len: usize, sum: *mut u64) -> std::os::raw::c_long;
}

/// Dumps the table with libnetfilter_conntrack (parse + field reads per entry); returns the
/// number of entries.
pub fn peer_dump(family: u8) -> Option<u64> {
    let mut sum = 0u64;
    // SAFETY: the C function only writes through `sum`, which is a valid u64 for the call.
    let n = unsafe { nfct_peer_dump(family, &mut sum) };
    std::hint::black_box(sum);
    u64::try_from(n).ok()
}

/// Parses captured bytes with libnetfilter_conntrack's `nfct_nlmsg_parse`; returns the count.
pub fn peer_parse(buf: &[u8]) -> u64 {
    let mut sum = 0u64;
    // SAFETY: `buf` is valid for `len` bytes and only read; `sum` is a valid u64.
    let n = unsafe { nfct_peer_parse(buf.as_ptr(), buf.len(), &mut sum) };
    std::hint::black_box(sum);
    u64::try_from(n).unwrap_or(0)
}

/// Runs `f` `runs` times and returns the median duration.
pub fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}
