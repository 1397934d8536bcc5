//! Dumps a table of `N` entries (default 100,000; UDP only, or the live benchmark's varied
//! table with `TABLE=varied`) in a private network namespace, five ways interleaved: the raw
//! header-walking floor, `dump_with` on one thread and pipelined, and `dump` into owned values
//! on one thread and pipelined (`PEERS=1` adds libnetfilter_conntrack and `conntrack -L` to the
//! rotation, as in the live benchmark). `ONLY=owned` (or `floor`, `borrowed`, `piped`, `owned-piped`,
//! or several, comma-separated) runs just those cases, as a `perf record` target; `SAVE=path` only writes the raw bytes of one
//! dump to `path` (for `decode_profile FILE=path`). `PAUSE_MS=500` sleeps after the fill, for
//! `perf record -p` to attach. Run as root: `cargo run --release -p
//! conntrack-benches --example dump_profile`.
use conntrack::{Config, Family, Nfct};
use conntrack_benches::{
    enable_labels, fill_udp, fill_varied, pause_for_profiler, start_dump, stream_dump,
};
use std::time::{Duration, Instant};

// Long: a profiling script driven by environment variables (setup, the measured loop, the report), read top to bottom.
fn main() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // `ARENA_SLOTS=n` overrides `Config::arena_slots` for both.
    let config = |pipeline: bool| {
        let mut c = Config::default().pipeline(pipeline);
        if let Some(slots) = std::env::var("ARENA_SLOTS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            c.arena_slots = slots;
        }
        c
    };
    let serial = Nfct::open_with(config(false)).unwrap();
    let piped = Nfct::open_with(config(true)).unwrap();
    if std::env::var("TABLE").as_deref() == Ok("varied") {
        let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_acct", "1");
        let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_timestamp", "1");
        enable_labels();
        fill_varied(&serial, 0, n);
    } else {
        fill_udp(&serial, n);
    }
    if let Ok(path) = std::env::var("SAVE") {
        // Only capture the dump's bytes (for `decode_profile FILE=...`).
        let sock = start_dump();
        let (mut buf, mut all) = (vec![0u8; 32 * 1024], Vec::new());
        loop {
            let m = sock.recv(&mut buf).unwrap();
            all.extend_from_slice(&buf[..m.len]);
            if u16::from_ne_bytes([buf[4], buf[5]]) == 3 {
                break;
            }
        }
        std::fs::write(&path, &all).unwrap();
        println!("saved {} bytes to {path}", all.len());
        return;
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    pause_for_profiler();
    let floor = || {
        let sock = start_dump();
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
        let (k, acc) = stream_dump(nfct);
        std::hint::black_box(acc);
        assert_eq!(k, u64::from(n));
    };
    let owned = |nfct: &Nfct| assert_eq!(nfct.dump(Family::Any).unwrap().len(), n as usize);
    let names = [
        "floor",
        "borrowed",
        "piped",
        "owned",
        "owned-piped",
        "peers",
    ];
    let mut t = [Duration::MAX; 6];
    let peers = std::env::var("PEERS").is_ok();
    for _ in 0..7 {
        for (i, name) in names.iter().enumerate() {
            if (!only.is_empty() && !only.split(',').any(|o| o == *name))
                || (*name == "peers" && !peers)
            {
                continue;
            }
            let s = Instant::now();
            match i {
                0 => floor(),
                1 => ours(&serial),
                2 => ours(&piped),
                3 => owned(&serial),
                4 => owned(&piped),
                _ => {
                    conntrack_benches::peer_dump(0);
                    std::process::Command::new("conntrack")
                        .arg("-L")
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .unwrap();
                }
            }
            t[i] = t[i].min(s.elapsed());
        }
    }
    for (name, d) in [
        "floor (headers)",
        "dump_with, one thread",
        "dump_with, pipelined",
        "dump, owned",
        "dump, owned, pipelined",
        "libnetfilter_conntrack + conntrack -L",
    ]
    .iter()
    .zip(t)
    {
        if d == Duration::MAX {
            continue;
        }
        println!(
            "{name:<24} {:>8.1} ms  {:.2}x",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / t[0].as_secs_f64()
        );
    }
}
