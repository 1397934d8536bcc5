//! Live benchmarks against the running kernel, side by side in one run: the header-walking
//! floor, this library (borrowed and owned), libnetfilter_conntrack and conntrack-tools.
//!
//! `cargo xtask bench` runs this as root and writes BENCHMARKS.md; `cargo bench -p
//! conntrack-benches --bench live -- --test` runs every case once on a small table (CI).

use conntrack::events::{EventConfig, EventView, Events, Groups, Shard};
use conntrack::sock::{Arena, Group, Socket};
use conntrack::wire::consts::*;
use conntrack::wire::request::{self, DumpFilter};
use conntrack::wire::{ConnDecoder, MessageKind, Messages};
use conntrack::{BatchOp, Family, Nfct};
use conntrack_benches::{
    drain_events, drain_shards, enable_labels, fill_varied, get_keys, get_requests, npn_parse,
    peer_dump, peer_parse, raw_get, raw_get_tlv, start_dump, stream_dump, touch_all, touch_events,
    varied_conn, walk_tlv,
};
use std::fmt::Write as _;

mod exporter;
mod memory;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn count_headers(d: &[u8], count: &mut u64, tlv: bool) -> bool {
    let mut off = 0;
    while off + 16 <= d.len() {
        let len = u32::from_ne_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]]) as usize;
        let ty = u16::from_ne_bytes([d[off + 4], d[off + 5]]);
        if ty == NLMSG_DONE || ty == NLMSG_ERROR {
            return true;
        }
        if tlv {
            let mut k = 0;
            walk_tlv(&d[off + 20..off + len], &mut k);
            std::hint::black_box(k);
        }
        *count += 1;
        off += (len + 3) & !3;
    }
    false
}

/// The batched floor: the same request, received with `recvmmsg` into 8 slots of 32 KiB
/// (the library's own receive path), walking only netlink headers.
fn floor_dump_batched(arena: &mut Arena) -> u64 {
    let sock = start_dump();
    let mut count = 0u64;
    loop {
        sock.recv_batch(arena).unwrap();
        for (d, _) in arena.iter() {
            if count_headers(d, &mut count, false) {
                return count;
            }
        }
    }
}

/// The two-thread floor: the same request, received on a helper thread with `recvmmsg` into a
/// ring of three arenas (as the library's pipeline: `slots` × 32 KiB each), handed to this
/// thread, which walks every TLV and interprets none. What any two-thread reader pays for the
/// hand-over and a walk of every attribute on the second core.
fn floor_dump_two_threads(arenas: &mut Vec<Arena>) -> u64 {
    use std::sync::mpsc::{SendError, sync_channel};
    let sock = start_dump();
    let depth = arenas.len();
    let (full_tx, full_rx) = sync_channel::<Arena>(depth);
    let (free_tx, free_rx) = sync_channel::<Arena>(depth);
    for a in arenas.drain(..) {
        free_tx.send(a).unwrap();
    }
    let mut count = 0u64;
    std::thread::scope(|sc| {
        let receiver = sc.spawn(move || {
            while let Ok(mut a) = free_rx.recv() {
                sock.recv_batch(&mut a).unwrap();
                let end = a.iter().any(|(d, _)| count_headers(d, &mut 0, false));
                full_tx.send(a).unwrap();
                if end {
                    break;
                }
            }
            free_rx
        });
        // Ends when the receiver has stopped (and dropped its sender).
        while let Ok(a) = full_rx.recv() {
            for (d, _) in a.iter() {
                count_headers(d, &mut count, true);
            }
            if let Err(SendError(a)) = free_tx.send(a) {
                arenas.push(a);
            }
        }
        arenas.extend(receiver.join().unwrap().try_iter());
    });
    count
}

/// The floor: send the same dump request and only walk netlink headers (or every TLV).
fn floor_dump(tlv: bool, keep: Option<&mut Vec<u8>>) -> u64 {
    let sock = start_dump();
    let mut buf = vec![0u8; 32 * 1024];
    let mut count = 0u64;
    let mut keep = keep;
    loop {
        let m = sock.recv(&mut buf).unwrap();
        let d = &buf[..m.len];
        if let Some(k) = keep.as_deref_mut() {
            k.extend_from_slice(d);
        }
        if count_headers(d, &mut count, tlv) {
            return count;
        }
    }
}

/// Runs every case once per round, `rounds` times, and returns every round's times. Round
/// `r` starts with case `r % cases.len()`, so that no case always runs right after the same
/// other one.
fn interleaved(rounds: usize, cases: Vec<Box<dyn FnMut() + '_>>) -> Rounds {
    let every = vec![1; cases.len()];
    interleaved_every(rounds, cases, &every)
}

/// Like [`interleaved`], but case `c` runs only in the rounds `r` with `r % every[c] == 0`
/// (slow cases in fewer rounds, so that the cases that decide a goal get more rounds within
/// the same time). The cases of a round run in turn, starting one later each round.
fn interleaved_every(
    rounds: usize,
    mut cases: Vec<Box<dyn FnMut() + '_>>,
    every: &[usize],
) -> Rounds {
    let mut times = vec![Vec::new(); cases.len()];
    for r in 0..rounds.max(1) {
        let present: Vec<usize> = (0..cases.len())
            .filter(|&c| r % every[c].max(1) == 0)
            .collect();
        for i in 0..present.len() {
            let c = present[(r + i) % present.len()];
            let start = Instant::now();
            cases[c]();
            times[c].push((r, start.elapsed()));
        }
    }
    Rounds::from_rounds(times)
}

/// The times of interleaved rounds: `times[case]` lists `(round, time)` for the rounds in which
/// the case ran.
struct Rounds {
    times: Vec<Vec<(usize, Duration)>>,
}

impl Rounds {
    /// Times of cases that ran in every round: `times[case][round]`.
    fn new(times: Vec<Vec<Duration>>) -> Self {
        Self::from_rounds(
            times
                .into_iter()
                .map(|v| v.into_iter().enumerate().collect())
                .collect(),
        )
    }

    fn from_rounds(times: Vec<Vec<(usize, Duration)>>) -> Self {
        if std::env::var_os("CT_BENCH_VERBOSE").is_some() {
            for (i, v) in times.iter().enumerate() {
                let ms: Vec<String> = v
                    .iter()
                    .map(|(r, d)| format!("{r}:{:.1}", d.as_secs_f64() * 1e3))
                    .collect();
                eprintln!("case {i}: {} ms", ms.join(" "));
            }
        }
        Rounds { times }
    }

    /// How many rounds case `i` ran in.
    fn runs(&self, i: usize) -> usize {
        self.times[i].len()
    }

    /// Each case's median time.
    fn medians(&self) -> Vec<Duration> {
        self.times
            .iter()
            .map(|v| {
                let mut v: Vec<Duration> = v.iter().map(|(_, d)| *d).collect();
                v.sort();
                v[v.len() / 2]
            })
            .collect()
    }

    /// Each case's fastest round.
    fn fastest(&self) -> Vec<Duration> {
        self.times
            .iter()
            .map(|v| v.iter().map(|(_, d)| *d).min().unwrap_or_default())
            .collect()
    }

    /// The median over rounds of case `i`'s time divided by case `j`'s in the same round: a
    /// paired comparison, so that a slow spell of the machine, which lasts longer than one
    /// round, divides out. Only rounds in which both ran count.
    fn ratio(&self, i: usize, j: usize) -> f64 {
        let mut r: Vec<f64> = self.times[i]
            .iter()
            .filter_map(|(round, a)| {
                let b = self.times[j].iter().find(|(r, _)| r == round)?.1;
                Some(a.as_secs_f64() / b.as_secs_f64())
            })
            .collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    }
}

/// The fastest round of each case of one operation, as a ratio to the floor's fastest round:
/// the cost with the least interference from the rest of the machine.
struct Fastest {
    op: String,
    cases: Vec<(&'static str, f64)>,
}

impl Fastest {
    fn new(op: String, names: &[&'static str], fastest: &[Duration]) -> Self {
        let floor = fastest[0].as_secs_f64();
        Fastest {
            op,
            cases: names
                .iter()
                .zip(fastest)
                .map(|(n, d)| (*n, d.as_secs_f64() / floor))
                .collect(),
        }
    }
}

struct Row {
    op: String,
    who: String,
    median: Duration,
    per: Option<f64>,
    ratio: Option<f64>,
    note: String,
}

pub(crate) fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Decodes `captured` (concatenated netlink datagrams holding `n` conntrack messages) five
/// ways in interleaved rounds: the TLV-walking floor, our borrowed views (every field read)
/// and owned values, libnetfilter_conntrack and netlink-packet-netfilter. Adds a row per case
/// and a fastest-round line; returns the rounds.
/// Runs a command, output discarded; panics unless it succeeds.
fn quiet(cmd: impl AsRef<std::ffi::OsStr>, args: &[&str]) {
    let cmd = cmd.as_ref();
    let st = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?} runs: {e}"));
    assert!(st.success(), "{cmd:?} {args:?} failed");
}

/// The release `ctrack` binary (built here on first use, next to the workspace's targets).
fn ctrack_bin() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "conntrack",
                "--features",
                "cli",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(st.success(), "building ctrack failed");
        let target = std::env::var("CARGO_TARGET_DIR").map_or(root.join("target"), Into::into);
        target.join("release").join("ctrack")
    })
    .clone()
}

/// A `ctrack -E` listening for `n` NEW events (output to /dev/null), stopped (`SIGSTOP`) once
/// it has subscribed, so that the events of a fill queue up as a backlog for it.
fn stopped_ctrack_events(n: u32, buffer: usize, json: bool) -> std::process::Child {
    let count = n.to_string();
    let buffer = buffer.to_string();
    let mut args = vec![
        "-E",
        "-e",
        "NEW",
        "--event-count",
        &count,
        "-b",
        &buffer,
        "--summary",
    ];
    if json {
        args.extend(["-o", "json"]);
    }
    let child = Command::new(ctrack_bin())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ctrack runs");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, nix::sys::signal::Signal::SIGSTOP);
    child
}

fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// Lets a stopped `ctrack -E` drain its backlog; checks that it received all `n` events.
fn drain_ctrack_events(child: std::process::Child, n: u32) {
    signal(&child, nix::sys::signal::Signal::SIGCONT);
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(&format!("{n} events: {n} new, 0 update, 0 destroy; 0 lost")),
        "{summary}"
    );
}

/// The offline decode cases: the TLV floor, the library (borrowed, owned, every message
/// walked) and the peers, each over the whole capture.
fn decode_cases(captured: &[u8], n: u64) -> Vec<Box<dyn FnMut() + '_>> {
    vec![
        Box::new(|| {
            let mut k = 0u64;
            for m in Messages::new(captured).flatten() {
                if let Ok(b) = m.attr_bytes() {
                    walk_tlv(b, &mut k);
                }
            }
            std::hint::black_box(k);
        }),
        Box::new(|| {
            // One ConnDecoder per stream, as the library keeps one per socket.
            let (mut acc, mut layouts) = (0u64, ConnDecoder::new());
            for m in Messages::new(captured).flatten() {
                if let MessageKind::Conntrack(_) = m.kind() {
                    acc ^= touch_all(&layouts.conn(&m).unwrap());
                }
            }
            std::hint::black_box(acc);
        }),
        Box::new(|| {
            let (mut k, mut layouts) = (0usize, ConnDecoder::new());
            for m in Messages::new(captured).flatten() {
                if let MessageKind::Conntrack(_) = m.kind() {
                    k += conntrack::wire::Conn::parse(&layouts.conn(&m).unwrap())
                        .id
                        .is_some() as usize;
                }
            }
            std::hint::black_box(k);
        }),
        Box::new(move || assert_eq!(peer_parse(captured), n)),
        Box::new(move || {
            let (k, acc) = npn_parse(captured);
            assert_eq!(k, n, "netlink-packet-netfilter decoded {k}");
            std::hint::black_box(acc);
        }),
        Box::new(|| {
            let mut acc = 0u64;
            for m in Messages::new(captured).flatten() {
                if let MessageKind::Conntrack(_) = m.kind() {
                    acc ^= touch_all(&m.conn().unwrap());
                }
            }
            std::hint::black_box(acc);
        }),
    ]
}

/// Offline decode of a capture by the floor, the library and the peers, with its rows.
fn offline_decode(
    captured: &[u8],
    n: u64,
    runs: usize,
    what: &str,
    rows: &mut Vec<Row>,
    fastest: &mut Vec<Fastest>,
) -> Rounds {
    let decode = interleaved(runs, decode_cases(captured, n));
    let (m, f) = (decode.medians(), decode.fastest());
    let op = format!(
        "offline decode of {what}, {} bytes captured",
        captured.len()
    );
    fastest.push(Fastest::new(
        op.clone(),
        &[
            "floor: every TLV",
            "borrowed views",
            "owned Conn",
            "libnetfilter_conntrack",
            "netlink-packet-netfilter",
            "borrowed views, every message walked",
        ],
        &f,
    ));
    for (who, i, note) in [
        ("floor: every TLV", 0, "walk only"),
        (
            "conntrack-rs borrowed views",
            1,
            "every field read; ConnDecoder::conn (one ConnDecoder for the stream)",
        ),
        (
            "conntrack-rs borrowed views, every message walked",
            5,
            "every field read; Message::conn (no remembered layouts)",
        ),
        (
            "conntrack-rs owned Conn",
            2,
            "Conn::parse of ConnDecoder::conn",
        ),
        (
            "libnetfilter_conntrack",
            3,
            "nfct_nlmsg_parse + same field reads",
        ),
        (
            "netlink-packet-netfilter 0.4",
            4,
            "owned NetlinkMessage<NetfilterMessage>; reads the fields it models (tuples, status, timeout, mark, TCP state)",
        ),
    ] {
        let d = m[i];
        let mps = n as f64 / d.as_secs_f64() / 1e6;
        rows.push(Row {
            op: op.clone(),
            who: who.into(),
            median: d,
            per: Some(d.as_secs_f64() / n.max(1) as f64),
            ratio: Some(decode.ratio(i, 0)),
            note: format!("{note}; {mps:.2} M msg/s on one core"),
        });
    }
    decode
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Ok(ns) = std::env::var("CT_BENCH_RSS_NETNS") {
        memory::child(&ns, &std::env::var("CT_BENCH_RSS_WAY").unwrap_or_default());
        return;
    }
    let quick = args.iter().any(|a| a == "--test");
    if !args.iter().any(|a| a == "--bench" || a == "--test") {
        return; // `cargo test` builds benches with neither flag: nothing to run
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the live benchmarks need root: run `cargo xtask bench` as root"
    );
    // Opened in the initial namespace: the global table limit, raised for the memory rows'
    // largest table and put back when the run ends.
    let mut max = memory::ConntrackMax::open();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_acct", "1");
    let _ = std::fs::write("/proc/sys/net/netfilter/nf_conntrack_timestamp", "1");
    enable_labels();
    let n: u32 = if quick { 2_000 } else { 250_000 };
    let runs = if quick { 1 } else { 31 };
    let nfct = Nfct::open().unwrap();
    let t = Instant::now();
    fill_varied(&nfct, 0, n);
    eprintln!("filled {n} entries in {:?}", t.elapsed());

    // Built before anything is timed.
    let _ = ctrack_bin();
    let mut bench = Bench {
        quick,
        runs,
        n,
        decode_runs: if quick { 1 } else { 21 },
        nfct,
        rows: Vec::new(),
        fastest: Vec::new(),
    };
    // Built before anything is timed.
    let _ = ctrack_bin();
    let dump = full_dump(&mut bench);
    let decode = dump_decode(&mut bench);
    let get = get_round_trip(&mut bench);
    let create = create_and_flush(&mut bench);
    let drain = event_drain(&mut bench);
    let backlog = drain_backlog(bench.quick);
    let decode_events = events_decode(&mut bench, backlog);
    let burst = event_burst(&mut bench);
    let memory = memory::measure(&mut bench, &mut max);
    let largest = memory.sizes.last().copied().unwrap_or(n);
    let exporter = exporter::measure(&mut bench, largest);
    let measured = Measured {
        dump,
        get,
        create,
        drain,
        backlog,
        burst,
        decode,
        decode_events,
        memory,
        exporter,
    };
    let goals = goals(&measured);
    report(&bench, &measured.dump, &goals);
}

/// What every measurement shares: the run's size, the handle on the bench's table, and the
/// report's rows.
struct Bench {
    quick: bool,
    runs: usize,
    n: u32,
    decode_runs: usize,
    nfct: Nfct,
    rows: Vec<Row>,
    fastest: Vec<Fastest>,
}

/// What the goals are judged on.
struct Measured {
    dump: Rounds,
    get: Rounds,
    create: Rounds,
    drain: Rounds,
    backlog: u32,
    burst: Burst,
    decode: Rounds,
    decode_events: Rounds,
    memory: memory::Memory,
    /// The exporter's cost at a small table and at the largest.
    exporter: Vec<exporter::Cost>,
}

/// Events received and lost in the burst, and how many the burst generated.
#[derive(Clone, Copy)]
struct Burst {
    got: u64,
    lost: u64,
    generated: u64,
}

/// Time per unit, for a row.
fn per(d: Duration, k: u64) -> Option<f64> {
    Some(d.as_secs_f64() / k.max(1) as f64)
}

/// The event backlog of a drain round.
fn drain_backlog(quick: bool) -> u32 {
    if quick { 1_000 } else { 100_000 }
}

/// The receive buffers of the drain's readers: large enough for the whole backlog.
const DRAIN_BUFFER: usize = 256 << 20;

/// Full dumps: the floors, the library (borrowed, owned, one thread or pipelined, kernel-
/// filtered), the peers and the CLI, side by side.
fn full_dump(bench: &mut Bench) -> Rounds {
    let (quick, runs, n) = (bench.quick, bench.runs, bench.n);
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- full dump
    // Side by side: every round runs each case once, in turn, so that a drift of the machine
    // or of the kernel's table affects all cases alike; the median of the rounds is reported.
    let slots = conntrack::Config::default().arena_slots;
    let mut dump_arena = Arena::new(slots, 32 * 1024).unwrap();
    let mmsg_note = format!("the library's receive path ({slots} × 32 KiB slots), walks nlmsghdr");
    let mut ring: Vec<Arena> = (0..3)
        .map(|_| Arena::new(slots, 32 * 1024).unwrap())
        .collect();
    // `nfct` has the default configuration: on two CPUs, long dumps are received on a helper
    // thread and decoded on ours. `serial` does everything on the caller's thread.
    let serial = Nfct::open_with(conntrack::Config::default().pipeline(false)).unwrap();
    let cases: Vec<Box<dyn FnMut()>> = vec![
        Box::new(|| assert_eq!(floor_dump(false, None), u64::from(n))),
        Box::new(|| {
            floor_dump(true, None);
        }),
        Box::new(|| assert_eq!(floor_dump_batched(&mut dump_arena), u64::from(n))),
        Box::new(|| {
            let (k, acc) = stream_dump(nfct);
            assert_eq!(k, u64::from(n));
            std::hint::black_box(acc);
        }),
        Box::new(|| assert_eq!(nfct.dump(Family::Any).unwrap().len(), n as usize)),
        Box::new(|| {
            let (k, acc) = stream_dump(&serial);
            assert_eq!(k, u64::from(n));
            std::hint::black_box(acc);
        }),
        Box::new(|| assert_eq!(serial.dump(Family::Any).unwrap().len(), n as usize)),
        Box::new(|| {
            let f = DumpFilter {
                mark: Some((3, 0xff)),
                ..Default::default()
            };
            assert_eq!(
                nfct.dump_filtered(Family::Any, &f).unwrap().len(),
                (n / 8) as usize
            );
        }),
        Box::new(|| assert_eq!(peer_dump(AF_UNSPEC), Some(u64::from(n)))),
        Box::new(|| quiet("conntrack", &["-L"])),
        Box::new(|| assert_eq!(floor_dump_two_threads(&mut ring), u64::from(n))),
        Box::new(|| quiet(ctrack_bin(), &["-L"])),
        Box::new(|| quiet(ctrack_bin(), &["-L", "-o", "json"])),
    ];
    // The cases the goals judge (both header floors, borrowed and owned with the default
    // configuration) run in every round; the others, slower, in every fourth (the dumps are
    // most of the run's time).
    let dump_rounds = if quick { 1 } else { runs * 3 };
    let dump = interleaved_every(dump_rounds, cases, &[1, 4, 1, 1, 1, 4, 4, 4, 4, 4, 2, 4, 4]);
    let f = dump.fastest();
    fastest.push(Fastest::new(
        format!("full dump, {n} entries"),
        &[
            "floor: headers only",
            "floor: every TLV",
            "floor: headers only, recvmmsg",
            "borrowed views",
            "owned Conn",
            "borrowed views, one thread",
            "owned Conn, one thread",
            "kernel-filtered (1/8)",
            "libnetfilter_conntrack",
            "conntrack -L",
            "floor: every TLV, two threads",
            "ctrack -L",
            "ctrack -L -o json",
        ],
        &f,
    ));
    dump_rows(rows, &dump, n, &mmsg_note);
    dump
}

/// The full dump's rows: each case's median and its ratio to the header floor.
fn dump_rows(rows: &mut Vec<Row>, dump: &Rounds, n: u32, mmsg_note: &str) {
    let m = dump.medians();
    let pipelined = conntrack::Config::default().pipeline;
    let filtered = m[7];
    let default_note = if pipelined {
        "default Config: a helper thread receives, the caller decodes"
    } else {
        "default Config: one thread (one CPU available)"
    };
    let borrowed_note = format!("every field read, no allocation per entry; {default_note}");
    let owned_note = format!("Vec<Conn>; {default_note}");
    for (who, i, note) in [
        (
            "floor: headers only",
            0,
            "raw recv, 32 KiB buffer, walks nlmsghdr",
        ),
        (
            "floor: every TLV",
            1,
            "walks every attribute, interprets none",
        ),
        ("floor: headers only, recvmmsg", 2, mmsg_note),
        (
            "floor: every TLV, two threads",
            10,
            "a helper thread receives into a ring of three arenas (as the library), the caller \
             walks every attribute and interprets none",
        ),
        ("conntrack-rs borrowed views", 3, &borrowed_note),
        ("conntrack-rs owned Conn", 4, &owned_note),
        (
            "conntrack-rs borrowed views, one thread",
            5,
            "Config::pipeline(false)",
        ),
        (
            "conntrack-rs owned Conn, one thread",
            6,
            "Config::pipeline(false)",
        ),
        (
            "libnetfilter_conntrack",
            8,
            "nfct_query(NFCT_Q_DUMP), same fields read",
        ),
        ("conntrack -L", 9, "process, output to /dev/null"),
        ("ctrack -L", 11, "process, output to /dev/null"),
        (
            "ctrack -L -o json",
            12,
            &format!(
                "process, output to /dev/null; {:.2}x the text output's time",
                dump.ratio(12, 11)
            ),
        ),
    ] {
        rows.push(Row {
            op: format!("full dump, {n} entries"),
            who: who.into(),
            median: m[i],
            per: per(m[i], n.into()),
            ratio: Some(dump.ratio(i, 0)),
            note: note.into(),
        });
    }
    rows.push(Row {
        op: format!("kernel-filtered dump (mark, 1/8 of {n})"),
        who: "conntrack-rs owned".into(),
        median: filtered,
        per: per(filtered, (n / 8).into()),
        ratio: Some(dump.ratio(7, 0)),
        note: "ratio to the full-dump floor".into(),
    });
}

/// Offline decode of a captured dump.
fn dump_decode(bench: &mut Bench) -> Rounds {
    let (n, decode_runs) = (bench.n, bench.decode_runs);
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- offline decode of the captured dump
    let mut captured = Vec::new();
    floor_dump(false, Some(&mut captured));
    offline_decode(&captured, n.into(), decode_runs, "a dump", rows, fastest)
}

/// Get round trips: the raw floor and the library.
fn get_round_trip(bench: &mut Bench) -> Rounds {
    let (quick, runs) = (bench.quick, bench.runs);
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- get round trip
    let gets = if quick { 100 } else { 2_000 };
    let keys = get_keys(gets);
    let raw = Socket::open().unwrap();
    let reqs = get_requests(&keys);
    let (mut buf, mut tlv_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let cases: Vec<Box<dyn FnMut() + '_>> = vec![
        Box::new(|| {
            for r in &reqs {
                raw_get(&raw, r, &mut buf);
            }
        }),
        Box::new(|| {
            for k in &keys {
                std::hint::black_box(nfct.get(k).unwrap());
            }
        }),
        Box::new(|| {
            for k in &keys {
                std::hint::black_box(nfct.get_with(k, touch_all).unwrap());
            }
        }),
        Box::new(|| {
            for r in &reqs {
                std::hint::black_box(raw_get_tlv(&raw, r, &mut tlv_buf));
            }
        }),
    ];
    let get = interleaved(runs * 3, cases);
    let (m, f) = (get.medians(), get.fastest());
    fastest.push(Fastest::new(
        format!("get round trip ×{gets}"),
        &[
            "floor: raw send/recv",
            "Nfct::get",
            "Nfct::get_with",
            "floor: raw send/recv, every TLV",
        ],
        &f,
    ));
    for (i, who, note) in [
        (0, "floor: raw send/recv", ""),
        (
            3,
            "floor: raw send/recv, every TLV",
            "the floor plus a walk of every attribute of the reply, interpreting none",
        ),
        (1, "conntrack-rs Nfct::get", "owned Conn"),
        (
            2,
            "conntrack-rs Nfct::get_with",
            "borrowed view, every field read, no allocation",
        ),
    ] {
        rows.push(Row {
            op: format!("get round trip ×{gets}"),
            who: who.into(),
            median: m[i],
            per: per(m[i], gets.into()),
            ratio: Some(get.ratio(i, 0)),
            note: note.into(),
        });
    }
    get
}

/// The create floor: sends the prebuilt requests and drains their ACKs.
fn send_prebuilt(sock: &Socket, sends: &[(Vec<u8>, usize)], arena: &mut Arena) {
    for (b, count) in sends {
        sock.send(b).unwrap();
        let mut acks = 0;
        while acks < *count {
            sock.recv_batch(arena).unwrap();
            acks += arena
                .iter()
                .map(|(d, _)| Messages::new(d).count())
                .sum::<usize>();
        }
    }
}

/// The create floor's sends: the requests prebuilt and packed as tightly as the kernel takes
/// them (at most 1,024 per send, each send within `max_send` bytes), with their counts.
fn packed_creates(ops: &[BatchOp], max_send: usize) -> Vec<(Vec<u8>, usize)> {
    let mut sends: Vec<(Vec<u8>, usize)> = vec![(Vec::new(), 0)];
    for (i, op) in ops.iter().enumerate() {
        let BatchOp::Create(x) = op else { continue };
        let mut m = vec![0u8; 1024];
        let len = request::emit_into(&mut m, |e| {
            request::ct_create(e, i as u32, x.family().unwrap(), x)
        })
        .unwrap();
        let last = sends.last_mut().unwrap();
        if last.1 == 1024 || last.0.len() + len > max_send {
            sends.push((Vec::new(), 0));
        }
        let last = sends.last_mut().unwrap();
        last.0.extend_from_slice(&m[..len]);
        last.1 += 1;
    }
    sends
}

/// Batched creates into an empty table, and the flushes that empty it again.
fn create_and_flush(bench: &mut Bench) -> Rounds {
    let (quick, runs) = (bench.quick, bench.runs);
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- batched create, and the flush after each create
    nfct.flush(Family::Any).unwrap();
    let creates: u32 = if quick { 1_000 } else { 100_000 };
    let ops: Vec<BatchOp> = (0..creates)
        .map(|i| BatchOp::Create(varied_conn(i)))
        .collect();
    // A warm-up of the create path.
    nfct.batch(&ops).into_result().expect("create");
    nfct.flush(Family::Any).unwrap();
    // The flush floor: the same flush request, prebuilt, and its ACK.
    let flush_req = {
        let mut b = vec![0u8; 64];
        let len = request::emit_into(&mut b, |e| {
            request::ct_flush(e, 1, 0, &conntrack::wire::request::FlushFilter::default())
        })
        .unwrap();
        b.truncate(len);
        b
    };
    let rawf = Socket::open().unwrap();
    let mut flush_buf = vec![0u8; 8192];
    // Each table the create rounds fill is flushed by one of these in turn.
    let mut flushers: Vec<Box<dyn FnMut() + '_>> = vec![
        Box::new(|| raw_get(&rawf, &flush_req, &mut flush_buf)),
        Box::new(|| nfct.flush(Family::Any).unwrap()),
        Box::new(|| quiet("conntrack", &["-F"])),
    ];
    let mut flush_times: [Vec<Duration>; 3] = Default::default();
    let mut flushes = 0;
    // the floor: the same requests prebuilt and packed as tightly as the kernel takes them (at
    // most 1,024 per send, each send within the send buffer), ACKs drained
    let rawc = Socket::open().unwrap();
    rawc.set_recv_buffer(8 << 20).unwrap();
    let max_send = rawc.send_buffer().unwrap() - 32;
    let sends = packed_creates(&ops, max_send);
    let mut arena = Arena::new(256, 4096).unwrap();
    // Interleaved rounds into an empty table, which is flushed (untimed) after each case.
    let mut create_times: [Vec<Duration>; 2] = Default::default();
    // At least two rounds, so that each of the three flushers runs at least once.
    for round in 0..runs.div_ceil(3).max(2) {
        for i in 0..2 {
            let case = (round + i) % 2;
            let t = Instant::now();
            if case == 0 {
                send_prebuilt(&rawc, &sends, &mut arena);
            } else {
                nfct.batch(&ops).into_result().expect("create");
            }
            create_times[case].push(t.elapsed());
            assert_eq!(nfct.count(Family::Any).unwrap(), creates as usize);
            let who = flushes % flushers.len();
            flushes += 1;
            let t = Instant::now();
            flushers[who]();
            flush_times[who].push(t.elapsed());
            assert_eq!(nfct.count(Family::Any).unwrap(), 0);
        }
    }
    drop(flushers);
    let flush_medians = Rounds::new(flush_times.to_vec()).medians();
    let create = Rounds::new(create_times.to_vec());
    fastest.push(Fastest::new(
        format!("batched create ×{creates}"),
        &["floor: prebuilt requests", "Nfct::batch"],
        &create.fastest(),
    ));
    let flushes = FlushTimes {
        medians: flush_medians,
        counts: flush_times.iter().map(Vec::len).collect(),
    };
    create_rows(rows, &create, &flushes, creates, (sends.len(), max_send));
    create
}

/// The flushes' medians and how many flushes each flusher made.
struct FlushTimes {
    medians: Vec<Duration>,
    counts: Vec<usize>,
}

/// The create and flush rows; `sends` is the floor's number of sends and their size limit.
fn create_rows(
    rows: &mut Vec<Row>,
    create: &Rounds,
    flushes: &FlushTimes,
    creates: u32,
    (sends, max_send): (usize, usize),
) {
    let (create_floor, create_ours) = (create.medians()[0], create.medians()[1]);
    let flush_medians = &flushes.medians;
    for (i, (who, note)) in [
        ("floor: prebuilt request, ACK read", ""),
        ("conntrack-rs Nfct::flush", ""),
        ("conntrack -F", "process"),
    ]
    .into_iter()
    .enumerate()
    {
        let d = flush_medians[i];
        rows.push(Row {
            op: format!("flush {creates} entries"),
            who: who.into(),
            median: d,
            per: per(d, creates.into()),
            ratio: Some(d.as_secs_f64() / flush_medians[0].as_secs_f64()),
            note: format!(
                "{}{}median of {} flushes (the create rounds' tables, flushed by each in turn); \
                 ratio of medians",
                note,
                if note.is_empty() { "" } else { "; " },
                flushes.counts[i]
            ),
        });
    }
    rows.push(Row {
        op: format!("batched create ×{creates}"),
        who: "floor: prebuilt requests, raw send, ACKs drained".into(),
        median: create_floor,
        per: per(create_floor, creates.into()),
        ratio: Some(1.0),
        note: format!(
            "{} sendmsg calls (≤ 1,024 requests and ≤ {max_send} bytes each)",
            sends
        ),
    });
    rows.push(Row {
        op: format!("batched create ×{creates}"),
        who: "conntrack-rs Nfct::batch".into(),
        median: create_ours,
        per: per(create_ours, creates.into()),
        ratio: Some(create.ratio(1, 0)),
        note: "builds, sends and checks every ACK".into(),
    });
}

/// The readers of one drain round: the raw floor, the library's streams (one thread,
/// spawned, sharded, into a mirror), sharded raw sockets, and `ctrack -E` processes.
struct DrainReaders {
    ev: Events,
    ev_mirror: Events,
    ev_threaded: Option<Events>,
    rawev: Socket,
    arena: Arena,
    rawev_tlv: Socket,
    arena_tlv: Arena,
    shards: Option<Vec<Events>>,
    raw_shards: Option<Vec<Socket>>,
    tlv_shards: Option<Vec<Socket>>,
    cli_text: Option<std::process::Child>,
    cli_json: Option<std::process::Child>,
}

impl DrainReaders {
    /// Opens every reader of one round, before the backlog is queued.
    fn open(backlog: u32) -> Self {
        let cfg = EventConfig::default()
            .groups(Groups {
                new: true,
                ..Groups::NONE
            })
            .recv_buffer(DRAIN_BUFFER);
        let mut ev = Events::open_with(cfg.clone()).unwrap();
        ev.set_nonblocking(true).unwrap();
        let mut ev_mirror = Events::open_with(cfg.clone()).unwrap();
        ev_mirror.set_nonblocking(true).unwrap();
        let ev_threaded = Some(Events::open_with(cfg.clone()).unwrap());
        let mut rawev = Socket::open().unwrap();
        rawev.join_group(Group::New).unwrap();
        rawev.set_recv_buffer(DRAIN_BUFFER).unwrap();
        rawev.set_nonblocking(true).unwrap();
        let arena = Arena::new(256, 8192).unwrap();
        let mut rawev_tlv = Socket::open().unwrap();
        rawev_tlv.join_group(Group::New).unwrap();
        rawev_tlv.set_recv_buffer(DRAIN_BUFFER).unwrap();
        rawev_tlv.set_nonblocking(true).unwrap();
        let arena_tlv = Arena::new(256, 8192).unwrap();
        let shards = Some(Events::open_shards(cfg.clone(), 2).unwrap());
        let raw_shard_pair = || {
            (0..2)
                .map(|index| {
                    let mut sock = Socket::open().unwrap();
                    let prog = conntrack::events::EventFilter {
                        shard: Some(Shard { count: 2, index }),
                        ..Default::default()
                    }
                    .compile()
                    .unwrap();
                    let prog: Vec<_> = prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
                    sock.attach_filter(&prog).unwrap();
                    sock.join_group(Group::New).unwrap();
                    sock.set_recv_buffer(DRAIN_BUFFER).unwrap();
                    sock.set_nonblocking(true).unwrap();
                    sock
                })
                .collect::<Vec<_>>()
        };
        let raw_shards = Some(raw_shard_pair());
        let tlv_shards = Some(raw_shard_pair());
        let cli_text = Some(stopped_ctrack_events(backlog, DRAIN_BUFFER, false));
        let cli_json = Some(stopped_ctrack_events(backlog, DRAIN_BUFFER, true));
        DrainReaders {
            ev,
            ev_mirror,
            ev_threaded,
            rawev,
            rawev_tlv,
            arena_tlv,
            arena,
            shards,
            raw_shards,
            tlv_shards,
            cli_text,
            cli_json,
        }
    }

    /// Drains the backlog with reader `case` and returns the time it took (a reader whose
    /// teardown waits for a thread, or frees a map, is timed before that).
    // Long: one match arm per reader, each a few lines; the arms are the table of readers.
    fn drain(&mut self, case: usize, nfct: &Nfct, backlog: u32) -> Duration {
        let t = Instant::now();
        match case {
            3 | 5 => {
                // Two threads, each draining one share with bare recvmmsg (case 5: and
                // walking every TLV of every message, interpreting none).
                let tlv = case == 5;
                let socks = if tlv {
                    &mut self.tlv_shards
                } else {
                    &mut self.raw_shards
                };
                let socks = socks.take().unwrap();
                let k: u64 = std::thread::scope(|sc| {
                    let hs: Vec<_> = socks
                        .iter()
                        .map(|sock| {
                            sc.spawn(move || {
                                let mut arena = Arena::new(256, 8192).unwrap();
                                let (mut k, mut n) = (0u64, 0u64);
                                while let Ok(got) = sock.recv_batch(&mut arena) {
                                    if got == 0 {
                                        break;
                                    }
                                    if tlv {
                                        for (d, _) in arena.iter() {
                                            count_headers(d, &mut n, true);
                                        }
                                    }
                                    k += got as u64;
                                }
                                std::hint::black_box(n);
                                k
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum()
                });
                assert_eq!(k, u64::from(backlog), "sharded floor drained {k}");
            }
            4 => {
                // Two threads, each draining and decoding one share.
                let streams = self.shards.take().unwrap();
                let (k, acc) = drain_shards(streams);
                std::hint::black_box(acc);
                assert_eq!(k, u64::from(backlog), "sharded drained {k}");
            }
            0 => {
                let mut k = 0u64;
                while let Ok(got) = self.rawev.recv_batch(&mut self.arena) {
                    if got == 0 {
                        break;
                    }
                    k += got as u64;
                }
                assert_eq!(k, u64::from(backlog), "floor drained {k}");
            }
            9 => {
                // The floor plus a walk of every attribute of every event, interpreting none.
                let (mut k, mut n) = (0u64, 0u64);
                while let Ok(got) = self.rawev_tlv.recv_batch(&mut self.arena_tlv) {
                    if got == 0 {
                        break;
                    }
                    for (d, _) in self.arena_tlv.iter() {
                        count_headers(d, &mut n, true);
                    }
                    k += got as u64;
                }
                std::hint::black_box(n);
                assert_eq!(k, u64::from(backlog), "TLV floor drained {k}");
            }
            1 => {
                let (k, acc) = drain_events(&mut self.ev);
                std::hint::black_box(acc);
                assert_eq!(k, u64::from(backlog), "drained {k}");
            }
            2 => {
                // The thread's start is timed too: it is part of draining this backlog.
                let mut ev = self.ev_threaded.take().unwrap().spawn().unwrap();
                let (mut k, mut acc) = (0u64, 0u64);
                while k < u64::from(backlog) {
                    let got = ev.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
                    let (got, sum) = touch_events(&got.batch());
                    k += got;
                    acc ^= sum;
                }
                // Timed before the stream is dropped (which waits for its thread).
                let took = t.elapsed();
                std::hint::black_box(acc);
                assert_eq!(k, u64::from(backlog), "drained {k}");
                return took;
            }
            7 => drain_ctrack_events(self.cli_text.take().unwrap(), backlog),
            8 => drain_ctrack_events(self.cli_json.take().unwrap(), backlog),
            6 => {
                // A Mirror kept from the stream: every NEW event inserted into its map.
                let mut mirror = conntrack::Mirror::new();
                loop {
                    let b = self.ev_mirror.recv().unwrap();
                    if b.is_empty() {
                        break;
                    }
                    mirror.apply_batch(&b, nfct).unwrap();
                }
                assert_eq!(mirror.len(), backlog as usize, "mirrored {}", mirror.len());
                assert_eq!(mirror.lost(), 0);
                // Freeing the map is not part of keeping it.
                let took = t.elapsed();
                drop(mirror);
                return took;
            }
            _ => unreachable!(),
        }
        t.elapsed()
    }
}

/// One backlog of NEW events drained by the raw floor, the library's readers and the CLI.
fn event_drain(bench: &mut Bench) -> Rounds {
    let (quick, runs) = (bench.quick, bench.runs);
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- event backlog drain: the same backlog read by the raw floor and by us
    // Every round queues one backlog of NEW events on every reader's sockets at once (receive
    // buffers large enough to hold all of it), then drains each reader in turn, rotating who
    // goes first; the median of the rounds is reported. The sharded readers split the events
    // between two sockets by a kernel-side BPF filter (`Shard`) and drain them on two threads.
    let backlog = drain_backlog(quick);
    const DRAINS: usize = 10;
    let mut drains: [Vec<Duration>; DRAINS] = Default::default();
    for round in 0..runs {
        let mut readers = DrainReaders::open(backlog);
        fill_varied(nfct, 0, backlog);
        for i in 0..DRAINS {
            let case = (round + i) % DRAINS;
            drains[case].push(readers.drain(case, nfct, backlog));
        }
        nfct.flush(Family::Any).unwrap();
    }
    let drain = Rounds::new(drains.to_vec());
    let f = drain.fastest();
    fastest.push(Fastest::new(
        format!("event backlog drain, {backlog} NEW events"),
        &[
            "floor: raw recvmmsg",
            "Events, one thread",
            "Events::spawn",
            "raw recvmmsg, 2 shards",
            "Events::open_shards(2)",
            "raw recvmmsg, 2 shards, every TLV",
            "Events into a Mirror",
            "ctrack -E",
            "ctrack -E -o json",
            "raw recvmmsg, every TLV",
        ],
        &f,
    ));
    drain_rows(rows, &drain, backlog);
    drain
}

/// The drain's rows: each reader's median, speed and ratio to the raw floor.
fn drain_rows(rows: &mut Vec<Row>, drain: &Rounds, backlog: u32) {
    let m = drain.medians();
    let eps = |d: Duration| f64::from(backlog) / d.as_secs_f64();
    for (i, who, note) in [
        (
            0,
            "floor: raw recvmmsg",
            "; 256 × 8 KiB slots, 256 MiB receive buffers",
        ),
        (1, "conntrack-rs Events, decoded", ", one thread"),
        (
            2,
            "conntrack-rs Events::spawn, decoded",
            ", receive thread + decoding caller",
        ),
        (
            3,
            "raw recvmmsg, 2 shards",
            "; two sockets split by the Shard BPF filter, one thread each, nothing decoded",
        ),
        (
            4,
            "conntrack-rs Events::open_shards(2), decoded",
            "; two streams, one thread each; each entry's events in order on one stream",
        ),
        (
            5,
            "raw recvmmsg, 2 shards, every TLV walked",
            "; the sharded floor plus a walk of every attribute, interpreting none: what any \
             decoder that reads every field costs at least",
        ),
        (
            9,
            "raw recvmmsg, every TLV walked",
            ", one thread; the floor plus a walk of every attribute, interpreting none: what \
             any one-thread decoder that reads every field costs at least",
        ),
        (
            6,
            "conntrack-rs Events into a Mirror",
            ", one thread; every event parsed into an owned entry and inserted in the mirror's \
             map (the mirror's cost per event is this row's time per event minus the one-thread \
             decoded drain's)",
        ),
    ] {
        rows.push(Row {
            op: format!("event backlog drain, {backlog} NEW events"),
            who: who.into(),
            median: m[i],
            per: per(m[i], backlog.into()),
            ratio: Some(drain.ratio(i, 0)),
            note: format!("{:.2} M events/s{note}", eps(m[i]) / 1e6),
        });
    }
    for (i, who, how) in [
        (7, "ctrack -E", "text"),
        (8, "ctrack -E -o json", "JSON lines"),
    ] {
        rows.push(Row {
            op: format!("event backlog drain, {backlog} NEW events"),
            who: who.into(),
            median: m[i],
            per: per(m[i], backlog.into()),
            ratio: Some(drain.ratio(i, 0)),
            note: format!(
                "{:.2} M events/s; a process stopped while the backlog queued, timed from SIGCONT \
                 to its exit, {how} to /dev/null; {:.2}x the one-thread decoded drain's time",
                eps(m[i]) / 1e6,
                drain.ratio(i, 1)
            ),
        });
    }
}

/// Offline decode of a captured event stream (the same backlog's datagrams).
fn events_decode(bench: &mut Bench, backlog: u32) -> Rounds {
    let decode_runs = bench.decode_runs;
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    let fastest = &mut bench.fastest;
    // ---------------- offline decode of a captured event stream (the same backlog's datagrams)
    let mut capture = Socket::open().unwrap();
    capture.join_group(Group::New).unwrap();
    capture.set_recv_buffer(DRAIN_BUFFER).unwrap();
    capture.set_nonblocking(true).unwrap();
    fill_varied(nfct, 0, backlog);
    let mut events_captured = Vec::new();
    let mut arena = Arena::new(256, 8192).unwrap();
    while capture.recv_batch(&mut arena).is_ok_and(|got| got > 0) {
        for (d, meta) in arena.iter() {
            assert!(!meta.truncated, "an event datagram did not fit 8 KiB");
            events_captured.extend_from_slice(d);
        }
    }
    drop(capture);
    nfct.flush(Family::Any).unwrap();
    offline_decode(
        &events_captured,
        backlog.into(),
        decode_runs,
        "an event stream",
        rows,
        fastest,
    )
}

/// `conntrack -E` for the burst; it writes to a file, never to a pipe nobody drains during
/// the burst.
fn cli_burst_listener() -> (std::process::Child, std::path::PathBuf) {
    let ev_out = std::env::temp_dir().join(format!("ct-bench-events-{}.txt", std::process::id()));
    let cli_ev = Command::new("conntrack")
        .args(["-E", "-b", "67108864"])
        .stdout(Stdio::from(std::fs::File::create(&ev_out).unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (cli_ev, ev_out)
}

/// Stops `conntrack -E` and returns the events it printed and the first line of its stderr.
fn cli_burst_result(cli_ev: std::process::Child, ev_out: &std::path::Path) -> (u64, String) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cli_ev.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let out = cli_ev.wait_with_output().unwrap();
    let cli_got = std::fs::read_to_string(ev_out)
        .map(|s| s.lines().count() as u64)
        .unwrap_or(0);
    let _ = std::fs::remove_file(ev_out);
    let cli_err = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (cli_got, cli_err)
}

/// Events lost under a burst of creates and the flush that follows: the library's stream
/// and `conntrack -E`.
fn event_burst(bench: &mut Bench) -> Burst {
    let quick = bench.quick;
    let nfct = &bench.nfct;
    let rows = &mut bench.rows;
    // ---------------- events lost under a burst of creates and the flush that follows
    let burst: u32 = if quick { 2_000 } else { 200_000 };
    let ev = Events::open_with(EventConfig::default()).unwrap();
    let consumer = std::thread::spawn(move || {
        let mut ev = ev;
        ev.socket()
            .set_recv_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let (mut got, mut lost) = (0u64, 0u64);
        loop {
            let b = ev.recv().unwrap();
            if b.is_empty() {
                break;
            }
            for e in b.iter() {
                match e {
                    EventView::Overrun { lost: l } => lost += l,
                    _ => got += 1,
                }
            }
        }
        (got, lost + ev.pending_loss().unwrap())
    });
    let (cli_ev, ev_out) = cli_burst_listener();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    fill_varied(nfct, 0, burst);
    nfct.flush(Family::Any).unwrap();
    let burst_time = t.elapsed();
    let (got, lost) = consumer.join().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (cli_got, cli_err) = cli_burst_result(cli_ev, &ev_out);
    let generated = 2 * u64::from(burst);
    rows.push(Row {
        op: format!("{burst} creates + flush: events generated {generated}"),
        who: "conntrack-rs Events (default config)".into(),
        median: burst_time,
        per: None,
        ratio: None,
        note: format!("received {got}, lost {lost} (counted), sum {}", got + lost),
    });
    rows.push(Row {
        op: format!("{burst} creates + flush: events generated {generated}"),
        who: "conntrack -E -b 64MiB".into(),
        median: burst_time,
        per: None,
        ratio: None,
        note: format!(
            "printed {cli_got}, missing {} (stderr: {cli_err})",
            generated.saturating_sub(cli_got)
        ),
    });
    Burst {
        got,
        lost,
        generated,
    }
}

/// The goals: measured here, judged here, never asserted in tests.
// Long: the goals, one entry each: a table, read top to bottom.
fn goals(m: &Measured) -> Vec<(String, String, bool)> {
    let Measured {
        dump,
        get,
        create,
        drain,
        decode,
        decode_events,
        memory,
        ..
    } = m;
    let rss = memory.streamed_peaks();
    let Burst {
        got,
        lost,
        generated,
    } = m.burst;
    let eps = |d: Duration| f64::from(m.backlog) / d.as_secs_f64();
    let d = drain.medians();
    let (drain_floor, drain_ours, drain_threaded) = (d[0], d[1], d[2]);
    let (drain_sharded, drain_tlv_sharded) = (d[4], d[5]);
    // ---------------- goals (issue "Benchmarks"): measured here, judged here, never asserted in tests
    let mut goals = vec![
        (
            "full dump, borrowed views ≤ 1.05x the header floor".into(),
            format!(
                "{:.2}x the recv floor, {:.2}x the recvmmsg floor (one thread: {:.2}x; the TLV-walking \
                 floor alone: {:.2}x on one thread, {:.2}x on two)",
                dump.ratio(3, 0),
                dump.ratio(3, 2),
                dump.ratio(5, 0),
                dump.ratio(1, 0),
                dump.ratio(10, 0)
            ),
            // Judged against whichever floor was faster: the stricter of the two.
            dump.ratio(3, 0).max(dump.ratio(3, 2)) <= 1.05,
        ),
        (
            "full dump, owned ≤ 1.15x the header floor".into(),
            format!(
                "{:.2}x the recv floor, {:.2}x the recvmmsg floor (one thread: {:.2}x)",
                dump.ratio(4, 0),
                dump.ratio(4, 2),
                dump.ratio(6, 0)
            ),
            dump.ratio(4, 0).max(dump.ratio(4, 2)) <= 1.15,
        ),
        (
            "get round trip ≤ 1.1x the floor".into(),
            format!(
                "borrowed (Nfct::get_with) {:.2}x; owned (Nfct::get) {:.2}x (the raw get that \
                 walks every attribute of the reply: {:.2}x)",
                get.ratio(2, 0),
                get.ratio(1, 0),
                get.ratio(3, 0)
            ),
            get.ratio(2, 0) <= 1.1,
        ),
        (
            "batched create ≤ 1.1x the floor".into(),
            format!("{:.2}x", create.ratio(1, 0)),
            create.ratio(1, 0) <= 1.1,
        ),
        (
            "event drain ≥ 1.5 M events/s and ≥ 0.95x the recvmmsg floor".into(),
            format!(
                "Events::open_shards(2) {:.2} M/s = {:.2}x the floor's speed ({:.2}x the sharded raw \
                 reader's speed); Events::spawn {:.2} M/s = {:.2}x; one thread {:.2} M/s = {:.2}x; the \
                 single-socket floor itself {:.2} M/s; two shards that only walk every TLV {:.2} M/s \
                 (the sharded decode reaches {:.2}x their speed)",
                eps(drain_sharded) / 1e6,
                1.0 / drain.ratio(4, 0),
                drain.ratio(3, 4),
                eps(drain_threaded) / 1e6,
                1.0 / drain.ratio(2, 0),
                eps(drain_ours) / 1e6,
                1.0 / drain.ratio(1, 0),
                eps(drain_floor) / 1e6,
                eps(drain_tlv_sharded) / 1e6,
                drain.ratio(5, 4),
            ),
            eps(drain_sharded) >= 1.5e6 && 1.0 / drain.ratio(4, 0) >= 0.95,
        ),
        (
            "one-thread event drain ≥ 0.95x the single-socket recvmmsg floor".into(),
            format!(
                "Events, one thread: {:.2}x the floor's speed; Events::spawn {:.2}x; the floor \
                 plus a bare walk of every TLV (no decoder does less and reads every field): \
                 {:.2}x, which the one-thread decode reaches {:.2}x of",
                1.0 / drain.ratio(1, 0),
                1.0 / drain.ratio(2, 0),
                1.0 / drain.ratio(9, 0),
                drain.ratio(9, 1),
            ),
            1.0 / drain.ratio(1, 0) >= 0.95,
        ),
        (
            "no event lost in the burst with the default configuration, losses counted exactly"
                .into(),
            format!(
                "lost {lost}, received + lost = {} of {generated}",
                got + lost
            ),
            lost == 0 && got + lost == generated,
        ),
        (
            "offline decode, borrowed ≤ 1.5x the TLV floor".into(),
            format!(
                "dump {:.2}x, event stream {:.2}x (every message walked, no remembered \
                 layouts: {:.2}x, {:.2}x)",
                decode.ratio(1, 0),
                decode_events.ratio(1, 0),
                decode.ratio(5, 0),
                decode_events.ratio(5, 0)
            ),
            decode.ratio(1, 0) <= 1.5 && decode_events.ratio(1, 0) <= 1.5,
        ),
        (
            "offline decode, borrowed ≥ 3x faster than libnetfilter_conntrack".into(),
            format!(
                "dump {:.2}x faster, event stream {:.2}x faster (and {:.2}x / {:.2}x faster than \
                 netlink-packet-netfilter, which models fewer fields)",
                decode.ratio(3, 1),
                decode_events.ratio(3, 1),
                decode.ratio(4, 1),
                decode_events.ratio(4, 1)
            ),
            decode.ratio(3, 1) >= 3.0 && decode_events.ratio(3, 1) >= 3.0,
        ),
        (
            "streamed dump peak memory < 8 MiB and the same (±1 MiB) at every table size".into(),
            format!(
                "{} KiB (whole process, at {:?} entries)",
                rss.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" KiB, "),
                memory.sizes
            ),
            // "The same": within 1 MiB, about what the whole process's baseline drifts by
            // between two runs of the child (its RSS before the dump is in the rows above).
            rss.iter().all(|k| *k < 8 * 1024)
                && rss
                    .first()
                    .zip(rss.last())
                    .is_some_and(|(a, b)| (*b).abs_diff(*a) < 1024),
        ),
    ];
    goals.extend(memory_goals(memory));
    goals.extend(exporter_goals(&m.exporter));
    goals
}

/// The goals on holding the table (issue "a million entries in memory").
fn memory_goals(memory: &memory::Memory) -> Vec<(String, String, bool)> {
    let size = std::mem::size_of::<conntrack::Conn>();
    let (owned, mirror, c) = (
        memory.largest("owned"),
        memory.largest("mirror"),
        memory.largest("c-struct"),
    );
    // The constant: what the process held before the dump plus the dump's own buffers (the
    // streamed dump's whole peak bounds both).
    let constant = memory.largest("streamed").peak_kib * 1024;
    let owned_growth = owned.peak_kib.saturating_sub(owned.before_kib) * 1024;
    let owned_bound = 1.5 * (owned.entries as f64) * size as f64 + constant as f64;
    vec![
        (
            "owned entry ≤ 256 bytes (size_of::<Conn>())".into(),
            format!("{size} bytes"),
            size <= 256,
        ),
        (
            format!(
                "owned dump peak RSS ≤ 1.5 × entries × size_of::<Conn>() + a constant, at {} entries",
                owned.entries
            ),
            format!(
                "{:.1} MiB added ({:.0} B per entry); bound {:.1} MiB (constant: the streamed \
                 dump's whole peak, {:.1} MiB); C plain structs {:.0} B per entry (go-conntrack: \
                 about 1.5 KB per entry at 250k entries when the goal was set; not run here, \
                 this machine has no Go toolchain)",
                owned_growth as f64 / 1048576.0,
                owned.per_entry(),
                owned_bound / 1048576.0,
                constant as f64 / 1048576.0,
                c.per_entry()
            ),
            owned_growth as f64 <= owned_bound,
        ),
        (
            format!("Mirror ≤ 300 B per entry, at {} entries", mirror.entries),
            format!(
                "{:.0} B per entry of peak RSS ({:.0} B in entries and index)",
                mirror.per_entry(),
                mirror.heap as f64 / mirror.entries.max(1) as f64
            ),
            mirror.per_entry() <= 300.0,
        ),
    ]
}

/// The exporter's goal: a scrape costs the number of series, not a dump, so at the largest
/// table it is a small fraction of one full dump.
fn exporter_goals(costs: &[exporter::Cost]) -> Vec<(String, String, bool)> {
    let Some(big) = costs.iter().max_by_key(|c| c.entries) else {
        return Vec::new();
    };
    let share = big.scrape.as_secs_f64() / big.dump.as_secs_f64();
    let all: Vec<String> = costs
        .iter()
        .map(|c| {
            format!(
                "{} entries: scrape {:.2} ms, dump {:.1} ms",
                c.entries,
                c.scrape.as_secs_f64() * 1e3,
                c.dump.as_secs_f64() * 1e3
            )
        })
        .collect();
    vec![(
        format!(
            "exporter scrape ≤ 1% of one full dump, at {} entries",
            big.entries
        ),
        format!("{:.3}% ({})", share * 100.0, all.join("; ")),
        share <= 0.01,
    )]
}

/// Prints the report (and, for a full run, writes it to `target/bench-live.md`).
fn report(bench: &Bench, dump: &Rounds, goals: &[(String, String, bool)]) {
    let (quick, runs, decode_runs) = (bench.quick, bench.runs, bench.decode_runs);
    let (rows, fastest) = (&bench.rows, &bench.fastest);
    // ---------------- report
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Each time is the median of interleaved rounds (each round runs every case once, \
         starting one case later than the round before): for the dumps {} (the two header \
         floors, borrowed views and owned values with the default configuration; the two-thread \
         TLV floor ran in every second round, {}, the other cases in every fourth, {}), {runs} \
         for the event drain, {decode_runs} \
         for offline decode, {} for get, {} for batched create. Each ratio is the median over the rounds \
         of the case's time divided by the floor's time in the same round (a paired comparison: \
         a slow spell of this shared machine, which lasts longer than a round, divides out); \
         the flushes, one per table the create rounds fill, taken by each flusher in turn, are \
         compared by their medians.\n",
        dump.runs(0),
        dump.runs(10),
        dump.runs(1),
        runs * 3,
        runs.div_ceil(3).max(2)
    );
    let _ = writeln!(
        md,
        "| operation | who | median | per entry | ratio to floor | notes |\n|---|---|---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.op,
            r.who,
            if r.median.is_zero() {
                "-".into()
            } else {
                format!("{:.3} ms", r.median.as_secs_f64() * 1e3)
            },
            r.per.map_or("-".into(), |p| format!("{:.1} ns", p * 1e9)),
            r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            r.note
        );
    }
    let _ = writeln!(
        md,
        "\nThe fastest round of each case, as a ratio to the floor's fastest round (the cost \
         with the least interference from the rest of this shared machine; the goals below \
         are judged on the medians above):\n\n| operation | fastest rounds, ratio to the floor's |\n|---|---|"
    );
    for fr in fastest {
        let cases: Vec<String> = fr
            .cases
            .iter()
            .map(|(n, r)| format!("{n} {r:.2}x"))
            .collect();
        let _ = writeln!(md, "| {} | {} |", fr.op, cases.join("; "));
    }
    let _ = writeln!(md, "\n| goal | measured | met |\n|---|---|---|");
    for (g, m, ok) in goals {
        let _ = writeln!(md, "| {g} | {m} | {} |", if *ok { "yes" } else { "**no**" });
    }
    println!("{md}");
    if !quick {
        let kernel = Command::new("uname")
            .arg("-r")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-live.md");
        let _ = std::fs::write(
            &path,
            format!(
                "kernel {kernel}, {} CPUs\n\n{md}",
                std::thread::available_parallelism().map_or(0, |n| n.get())
            ),
        );
        eprintln!("wrote {}", path.display());
    }
}
