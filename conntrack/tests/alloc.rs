//! A streamed dump allocates nothing per entry: the number of allocations made while streaming
//! 250,000 entries through borrowed views is the same small constant as for 25,000, and a
//! borrowed lookup (`get_with`) allocates nothing. Neither does receiving and reading event
//! batches through borrowed views.

#[macro_use]
mod common;

use conntrack::events::{EventConfig, EventView, Events, Groups};
use conntrack::wire::request::DumpFilter;
use conntrack::{BatchOp, Conn, Family, Nfct};
use std::net::{IpAddr, SocketAddr};

#[path = "../../conntrack-wire/tests/counting/mod.rs"]
mod counting;

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
    nfct.batch(&ops).into_result().unwrap();
}

/// Streams the dump, touching fields of every entry; returns (entries, allocations).
fn stream(nfct: &Nfct) -> (u64, u64) {
    let before = counting::count();
    let mut n = 0u64;
    let mut acc = 0u64;
    nfct.dump_with(Family::Any, &DumpFilter::default(), |c| {
        n += 1;
        acc ^= u64::from(c.mark().unwrap_or(0))
            ^ u64::from(c.tuple_orig().and_then(|t| t.src_port()).unwrap_or(0));
    })
    .unwrap();
    std::hint::black_box(acc);
    (n, counting::count() - before)
}

#[test]
fn streamed_dump_allocations_do_not_grow_with_the_table() {
    netns!();
    // One thread first (the pipeline is on by default where there are two CPUs).
    let nfct = Nfct::open_with(conntrack::Config::default().pipeline(false)).unwrap();
    fill(&nfct, 0, 25_000);
    let (n1, a1) = stream(&nfct);
    fill(&nfct, 25_000, 250_000);
    let (n2, a2) = stream(&nfct);
    assert_eq!((n1, n2), (25_000, 250_000));
    assert_eq!(a1, a2, "allocations differ between 25k and 250k entries");
    assert!(a2 <= 4, "{a2} allocations for a streamed dump");
    // With the receive pipeline: its first long dump allocates the arenas (once per handle),
    // then each dump spawns its helper thread and two channels, and nothing per entry.
    let piped = Nfct::open_with(conntrack::Config::default().pipeline(true)).unwrap();
    let (n3, _) = stream(&piped);
    let (n4, a4) = stream(&piped);
    assert_eq!((n3, n4), (250_000, 250_000));
    assert!(a4 <= 16, "{a4} allocations for a pipelined streamed dump");
    // A borrowed lookup allocates nothing at all.
    let key = conntrack::Key {
        tuple: Conn::udp(
            "10.0.0.7:1007".parse().unwrap(),
            "192.0.2.1:53".parse().unwrap(),
        )
        .tuple_orig
        .unwrap(),
        ..Default::default()
    };
    assert_eq!(nfct.get_with(&key, |v| v.mark()).unwrap(), Some(7));
    let before = counting::count();
    for _ in 0..100 {
        std::hint::black_box(nfct.get_with(&key, |v| v.mark()).unwrap());
    }
    assert_eq!(counting::count() - before, 0, "allocations in get_with");
    nfct.flush(Family::Any).unwrap();
}

/// Drains `ev` (non-blocking) through borrowed views, touching fields of every event; returns
/// (conntrack events, allocations).
fn drain(ev: &mut Events) -> (u64, u64) {
    let before = counting::count();
    let (mut n, mut acc) = (0u64, 0u64);
    loop {
        let b = ev.recv().unwrap();
        if b.is_empty() {
            break;
        }
        for e in b.iter() {
            if let EventView::Conn { view: c, .. } = e {
                n += 1;
                acc ^= u64::from(c.mark().unwrap_or(0))
                    ^ u64::from(c.tuple_orig().and_then(|t| t.src_port()).unwrap_or(0));
            }
        }
    }
    std::hint::black_box(acc);
    (n, counting::count() - before)
}

#[test]
fn event_batches_allocate_nothing() {
    netns!();
    let mut ev = Events::open_with(EventConfig::default().groups(Groups {
        new: true,
        ..Groups::NONE
    }))
    .unwrap();
    ev.set_nonblocking(true).unwrap();
    let nfct = Nfct::open().unwrap();
    // Filled and drained in steps of 100 events, which any receive buffer holds (no
    // privilege needed to grow it); the allocations of the drains are summed.
    let mut step = |from: u32, to: u32| {
        let (mut n, mut allocs) = (0, 0);
        for start in (from..to).step_by(100) {
            fill(&nfct, start, (start + 100).min(to));
            let (k, a) = drain(&mut ev);
            n += k;
            allocs += a;
        }
        (n, allocs)
    };
    let (n1, a1) = step(0, 2_000);
    let (n2, a2) = step(2_000, 22_000);
    assert_eq!((n1, n2), (2_000, 20_000));
    assert_eq!((a1, a2), (0, 0), "allocations while reading event batches");
    nfct.flush(Family::Any).unwrap();
}
