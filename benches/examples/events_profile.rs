//! Drains a backlog of `N` NEW events (default 40,000) queued in a private network
//! namespace: `MODE=raw` with bare `recvmmsg` (`MODE=raw-other-thread` from another thread), `MODE=one` with `Events` on one thread,
//! `MODE=shards` with `Events::open_shards(2)` on two threads, otherwise with `Events::spawn`.
//! `TABLE=varied` queues the live bench's varied entries instead of UDP ones. A target for
//! `perf record`; run as root. `PAUSE_MS=500` sleeps between the fill and the drain, for
//! `perf record -p` to attach.
use conntrack::Nfct;
use conntrack::events::{EventConfig, Events};
use conntrack_benches::{
    drain_events, drain_shards, enable_labels, fill_udp, fill_varied, pause_for_profiler,
    touch_events,
};
use conntrack_sock::{Arena, Group, Socket};
use std::time::{Duration, Instant};

// Long: a profiling script driven by environment variables (setup, the measured loop, the report), read top to bottom.
fn main() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    let mut raw = Socket::open().unwrap();
    let cfg = EventConfig::default().recv_buffer(256 << 20);
    let ev = Events::open_with(cfg.clone()).unwrap();
    let shards = (mode == "shards").then(|| Events::open_shards(cfg, 2).unwrap());
    if mode.starts_with("raw") {
        raw.join_group(Group::New).unwrap();
        raw.set_recv_buffer(64 << 20).unwrap();
        raw.set_nonblocking(true).unwrap();
    }
    let nfct = Nfct::open().unwrap();
    if std::env::var("TABLE").is_ok_and(|t| t == "varied") {
        enable_labels();
        fill_varied(&nfct, 0, n);
    } else {
        fill_udp(&nfct, n);
    }
    pause_for_profiler();
    let t = Instant::now();
    let mut k = 0u64;
    let mut acc = 0u64;
    let mut d = Duration::ZERO;
    match mode.as_str() {
        "raw" => {
            let mut arena = Arena::new(256, 8192).unwrap();
            while let Ok(got) = raw.recv_batch(&mut arena) {
                if got == 0 {
                    break;
                }
                k += got as u64;
            }
        }
        "raw-other-thread" => {
            // The same drain from another thread (so, usually, another CPU than the one
            // whose creates queued the events).
            let rot: usize = std::env::var("ROT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            k = std::thread::spawn(move || {
                let mut arenas: Vec<Arena> =
                    (0..rot).map(|_| Arena::new(256, 8192).unwrap()).collect();
                let mut k = 0u64;
                let mut i = 0;
                while let Ok(got) = raw.recv_batch(&mut arenas[i % rot]) {
                    i += 1;
                    if got == 0 {
                        break;
                    }
                    k += got as u64;
                }
                k
            })
            .join()
            .unwrap();
        }
        "shards" => {
            (k, acc) = drain_shards(shards.unwrap());
        }
        "one" => {
            let mut ev = ev;
            ev.set_nonblocking(true).unwrap();
            (k, acc) = drain_events(&mut ev);
        }
        _ => {
            let mut ev = ev.spawn().unwrap();
            let spawned = t.elapsed();
            let mut waited = Duration::ZERO;
            let mut batches = 0;
            while k < u64::from(n) {
                let w = Instant::now();
                let got = ev.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
                waited += w.elapsed();
                batches += 1;
                if mode == "spawn-count" {
                    k += got.batch().len() as u64;
                    continue;
                }
                let (got, sum) = touch_events(&got.batch());
                k += got;
                acc ^= sum;
            }
            // Timed before the stream is dropped (which waits for its thread to look up).
            d = t.elapsed();
            eprintln!("spawn took {spawned:?}, waited {waited:?} over {batches} batches");
        }
    }
    if d.is_zero() {
        d = t.elapsed();
    }
    std::hint::black_box(acc);
    assert_eq!(k, u64::from(n));
    println!(
        "{mode}: {:.1} ms, {:.2} M events/s",
        d.as_secs_f64() * 1e3,
        f64::from(n) / d.as_secs_f64() / 1e6
    );
}
