//! Gets one entry many times in a private network namespace: a target for `perf record` of
//! the get round trip. Run as root: `cargo run --release -p conntrack-benches --example
//! get_profile`; `MODE=raw` times a plain send/recv of the same request instead, `MODE=view`
//! the borrowed `Nfct::get_with`.
use conntrack::wire::consts::AF_INET;
use conntrack::wire::request::{self, Key};
use conntrack::{Conn, Nfct};
use conntrack_sock::Socket;
use std::time::Instant;

fn main() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let nfct = Nfct::open().unwrap();
    let c = Conn::udp(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:53".parse().unwrap(),
    )
    .with_timeout(600);
    nfct.create(&c).unwrap();
    let key = Key {
        tuple: c.tuple_orig.unwrap(),
        ..Default::default()
    };
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mode = std::env::var("MODE").unwrap_or_default();
    let raw = mode == "raw";
    let sock = Socket::open().unwrap();
    let mut req = vec![0u8; 256];
    let len = request::emit_into(&mut req, |e| request::ct_get(e, 7, AF_INET, &key)).unwrap();
    req.truncate(len);
    let mut buf = vec![0u8; 8192];
    let t = Instant::now();
    for _ in 0..iters {
        if raw {
            conntrack_benches::raw_get(&sock, &req, &mut buf);
        } else if mode == "view" {
            std::hint::black_box(nfct.get_with(&key, conntrack_benches::touch_all).unwrap());
        } else {
            std::hint::black_box(nfct.get(&key).unwrap());
        }
    }
    println!(
        "{:.0} ns per get",
        t.elapsed().as_nanos() as f64 / f64::from(iters)
    );
}
