//! Dumps a table of `N` entries (default 100,000) in a private network namespace, three ways
//! interleaved: the raw header-walking floor, `dump_each` on one thread, and `dump_each` with
//! the receive pipeline. Run as root: `cargo run --release -p conntrack-benches --example
//! dump_profile`.
use conntrack::wire::consts::AF_UNSPEC;
use conntrack::wire::request::{self, DumpFilter};
use conntrack::{Config, Family, Nfct};
use conntrack_benches::{fill_udp, touch_all};
use conntrack_sock::Socket;
use std::time::{Duration, Instant};

fn main() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let serial = Nfct::open().unwrap();
    let piped = Nfct::open_with(Config::default().pipeline(true)).unwrap();
    fill_udp(&serial, n);
    let floor = || {
        let sock = Socket::open().unwrap();
        let mut req = vec![0u8; 256];
        let len = request::emit_into(&mut req, |e| {
            request::ct_dump(e, 1, AF_UNSPEC, &DumpFilter::default())
        })
        .unwrap();
        sock.send(&req[..len]).unwrap();
        let mut buf = vec![0u8; 32 * 1024];
        let mut k = 0u32;
        'outer: loop {
            let m = sock.recv(&mut buf).unwrap();
            let mut off = 0;
            while off + 16 <= m.len {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                if u16::from_ne_bytes([buf[off + 4], buf[off + 5]]) == 3 {
                    break 'outer;
                }
                k += 1;
                off += (len + 3) & !3;
            }
        }
        assert_eq!(k, n);
    };
    let ours = |nfct: &Nfct| {
        let mut acc = 0u64;
        let mut k = 0u32;
        nfct.dump_each(Family::Any, &DumpFilter::default(), |c| {
            acc ^= touch_all(c);
            k += 1;
        })
        .unwrap();
        std::hint::black_box(acc);
        assert_eq!(k, n);
    };
    let mut t = [Duration::MAX; 3];
    for _ in 0..7 {
        let s = Instant::now();
        floor();
        t[0] = t[0].min(s.elapsed());
        let s = Instant::now();
        ours(&serial);
        t[1] = t[1].min(s.elapsed());
        let s = Instant::now();
        ours(&piped);
        t[2] = t[2].min(s.elapsed());
    }
    for (name, d) in [
        "floor (headers)",
        "dump_each, one thread",
        "dump_each, pipelined",
    ]
    .iter()
    .zip(t)
    {
        println!(
            "{name:<24} {:>8.1} ms  {:.2}x",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / t[0].as_secs_f64()
        );
    }
}
