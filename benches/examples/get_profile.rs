//! Gets entries of the live bench's table many times in a private network namespace: a target
//! for `perf record` or `valgrind --tool=callgrind` of the get round trip. Run as root:
//! `cargo run --release -p conntrack-benches --example get_profile`; `MODE=raw` times a plain
//! send/recv of the same requests instead, `MODE=view` the borrowed `Nfct::get_with` reading
//! every field, `MODE=pair` these three and the raw get that walks every attribute of the
//! reply in interleaved rounds (printing median ratios to raw), anything else the owned
//! `Nfct::get`. `ITERS` sets the number of gets.
use conntrack::Nfct;
use conntrack_benches::{
    enable_labels, fill_varied, get_keys, get_requests, raw_get, raw_get_tlv, touch_all,
};
use conntrack_sock::Socket;
use std::time::Instant;

fn main() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_acct", "1");
    let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_timestamp", "1");
    enable_labels();
    let nfct = Nfct::open().unwrap();
    fill_varied(&nfct, 0, 8_000);
    let keys = get_keys(2_000);
    let iters: usize = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    let sock = Socket::open().unwrap();
    let reqs = get_requests(&keys);
    let mut buf = vec![0u8; 8192];
    if mode == "pair" {
        // Rounds of every key by each reader in turn; the median per-round ratio to raw.
        let mut r: [Vec<f64>; 4] = Default::default();
        for round in 0..iters / keys.len() {
            let mut ns = [0f64; 4];
            for j in 0..4 {
                let case = (round + j) % 4;
                let t = Instant::now();
                for (k, req) in keys.iter().zip(&reqs) {
                    match case {
                        0 => raw_get(&sock, req, &mut buf),
                        1 => {
                            std::hint::black_box(nfct.get_with(k, touch_all).unwrap());
                        }
                        2 => {
                            std::hint::black_box(nfct.get(k).unwrap());
                        }
                        _ => {
                            std::hint::black_box(raw_get_tlv(&sock, req, &mut buf));
                        }
                    }
                }
                ns[case] = t.elapsed().as_nanos() as f64 / keys.len() as f64;
            }
            r[0].push(ns[0]);
            r[1].push(ns[1] / ns[0]);
            r[2].push(ns[2] / ns[0]);
            r[3].push(ns[3] / ns[0]);
        }
        for v in &mut r {
            v.sort_by(f64::total_cmp);
        }
        let med = |v: &Vec<f64>| v[v.len() / 2];
        println!(
            "raw {:.0} ns per get; get_with {:.3}x; get {:.3}x; raw + every TLV {:.3}x (medians of {} rounds)",
            med(&r[0]),
            med(&r[1]),
            med(&r[2]),
            med(&r[3]),
            r[0].len()
        );
        return;
    }
    let t = Instant::now();
    for i in 0..iters {
        let k = i % keys.len();
        match mode.as_str() {
            "raw" => raw_get(&sock, &reqs[k], &mut buf),
            "view" => {
                std::hint::black_box(nfct.get_with(&keys[k], touch_all).unwrap());
            }
            _ => {
                std::hint::black_box(nfct.get(&keys[k]).unwrap());
            }
        }
    }
    println!(
        "{:.0} ns per get",
        t.elapsed().as_nanos() as f64 / iters as f64
    );
}
