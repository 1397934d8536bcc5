//! A streamed dump allocates nothing per entry: the number of allocations made while streaming
//! 250,000 entries through borrowed views is the same small constant as for 25,000.

mod common;

use common::netns;
use conntrack::wire::request::DumpFilter;
use conntrack::{BatchOp, Conn, Family, Nfct};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};

struct Counting;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts this thread's allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn fill(nfct: &Nfct, from: u32, to: u32) {
    let ops: Vec<BatchOp> = (from..to)
        .map(|i| {
            let src = SocketAddr::new(
                IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                1000 + (i % 50_000) as u16,
            );
            BatchOp::Create(
                Conn::udp(src, "192.0.2.1:53".parse().unwrap())
                    .with_timeout(600)
                    .with_mark(i),
            )
        })
        .collect();
    let r = nfct.batch(&ops).unwrap();
    assert!(r.iter().all(Result::is_ok));
}

/// Streams the dump, touching fields of every entry; returns (entries, allocations).
fn stream(nfct: &Nfct) -> (u64, u64) {
    let before = COUNT.with(Cell::get);
    let mut n = 0u64;
    let mut acc = 0u64;
    nfct.dump_each(Family::Any, &DumpFilter::default(), |c| {
        n += 1;
        acc ^= u64::from(c.mark().unwrap_or(0))
            ^ u64::from(c.tuple_orig().and_then(|t| t.src_port()).unwrap_or(0));
    })
    .unwrap();
    std::hint::black_box(acc);
    (n, COUNT.with(Cell::get) - before)
}

#[test]
fn streamed_dump_allocations_do_not_grow_with_the_table() {
    netns();
    let nfct = Nfct::open().unwrap();
    fill(&nfct, 0, 25_000);
    let (n1, a1) = stream(&nfct);
    fill(&nfct, 25_000, 250_000);
    let (n2, a2) = stream(&nfct);
    assert_eq!((n1, n2), (25_000, 250_000));
    assert_eq!(a1, a2, "allocations differ between 25k and 250k entries");
    assert!(a2 <= 4, "{a2} allocations for a streamed dump");
    nfct.flush(Family::Any).unwrap();
}
