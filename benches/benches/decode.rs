//! Offline decode throughput over a real captured dump (`conntrack-wire/tests/fixtures`):
//! the TLV-walking floor (every attribute header visited, nothing interpreted), the borrowed
//! views touching every field (with remembered layouts, and with every message walked),
//! owned `Conn` values, and the Rust peer netlink-packet-netfilter
//! decoding the same bytes into its owned messages. Prints messages/s and ratios to the floor.
//!
//! `cargo bench -p conntrack-benches` measures; `cargo bench -p conntrack-benches -- --test`
//! runs each case once (CI's rot check, no timing).

use conntrack_benches::{npn_parse, touch_all, walk_tlv};
use conntrack_wire::{Conn, ConnDecoder, MessageKind, Messages};
use std::hint::black_box;
use std::time::{Duration, Instant};

const DUMP: &[u8] = conntrack_wire::testing::fixtures::DUMP_CT;
const EVENTS: &[u8] = conntrack_wire::testing::fixtures::EVENTS;

/// A decoder under test.
type Decoder = fn(&[u8]) -> u64;

fn floor(buf: &[u8]) -> u64 {
    let mut n = 0u64;
    for m in Messages::new(buf).flatten() {
        if let Ok(b) = m.attr_bytes() {
            walk_tlv(b, &mut n);
        }
    }
    n
}

fn borrowed(buf: &[u8]) -> u64 {
    // One ConnDecoder per stream, as the library keeps one per socket.
    let (mut acc, mut layouts) = (0u64, ConnDecoder::new());
    for m in Messages::new(buf).flatten() {
        if let MessageKind::Conntrack(_) = m.kind() {
            if let Ok(c) = layouts.conn(&m) {
                acc += touch_all(&c);
            }
        }
    }
    acc
}

fn walked(buf: &[u8]) -> u64 {
    let mut acc = 0u64;
    for m in Messages::new(buf).flatten() {
        if let MessageKind::Conntrack(_) = m.kind() {
            if let Ok(c) = m.conn() {
                acc += touch_all(&c);
            }
        }
    }
    acc
}

fn owned(buf: &[u8]) -> u64 {
    let (mut acc, mut layouts) = (0u64, ConnDecoder::new());
    for m in Messages::new(buf).flatten() {
        if let MessageKind::Conntrack(_) = m.kind() {
            if let Ok(c) = layouts.conn(&m) {
                let c = Conn::parse(&c);
                acc += u64::from(c.id.unwrap_or(0));
            }
        }
    }
    acc
}

fn npn(buf: &[u8]) -> u64 {
    let (k, acc) = npn_parse(buf);
    k ^ acc
}

fn count(buf: &[u8]) -> u64 {
    Messages::new(buf)
        .flatten()
        .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)))
        .count() as u64
}

/// Times every case in interleaved rounds (so that a slow spell of the machine hits all of
/// them alike) and returns, per case, the fastest round's time per pass over `buf`.
fn measure(cases: &[(&str, Decoder)], buf: &[u8]) -> Vec<Duration> {
    // Passes per round: about 5 ms of the slowest case.
    let t = Instant::now();
    let mut calib = 0u32;
    while t.elapsed() < Duration::from_millis(5) {
        for (_, f) in cases {
            black_box(f(black_box(buf)));
        }
        calib += 1;
    }
    let passes = calib.max(1);
    let mut best = vec![Duration::MAX; cases.len()];
    for _ in 0..41 {
        for (i, (_, f)) in cases.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..passes {
                black_box(f(black_box(buf)));
            }
            let d = t.elapsed() / passes;
            if let Some(b) = best.get_mut(i) {
                *b = (*b).min(d);
            }
        }
    }
    best
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let cases: [(&str, Decoder); 5] = [
        ("TLV-walk floor", floor),
        ("borrowed views", borrowed),
        ("borrowed, all walked", walked),
        ("owned Conn", owned),
        ("netlink-packet-netfilter", npn),
    ];
    for (name, buf) in [("captured dump", DUMP), ("captured events", EVENTS)] {
        let n = count(buf);
        // The peer must decode every message, or its time would not be comparable.
        assert_eq!(
            npn_parse(buf).0,
            n,
            "{name}: netlink-packet-netfilter decoded fewer"
        );
        if quick {
            for (case, f) in cases {
                black_box(f(buf));
                println!("{name}: {case}: ok");
            }
            continue;
        }
        println!("{name}: {n} conntrack messages, {} bytes", buf.len());
        let times = measure(&cases, buf);
        let base = times.first().copied().unwrap_or(Duration::MAX);
        for ((case, _), d) in cases.iter().zip(times) {
            let per = d.as_secs_f64() / n as f64;
            println!(
                "  {case:<24} {:>9.1} ns/msg  {:>6.2} M msg/s  {:>5.2}x floor",
                per * 1e9,
                1e-6 / per,
                d.as_secs_f64() / base.as_secs_f64()
            );
        }
    }
}
