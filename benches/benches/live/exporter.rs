//! What `ctrack exporter` costs: the time of one scrape and the exporter's whole-process RSS,
//! at a small and at the largest table, side by side (interleaved rounds) with one full
//! dump of the same table, which is what an exporter that dumps on every scrape pays.

use super::{Bench, Row};
use conntrack::{DumpFilter, Family};
use conntrack_benches::fill_varied;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LISTEN: &str = "127.0.0.1:19466";

/// What one table size measured.
pub struct Cost {
    pub entries: u32,
    /// Medians: one scrape, one full dump.
    pub scrape: Duration,
    pub dump: Duration,
    /// The exporter's resident and peak resident memory after the scrapes, KiB.
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// One GET of /metrics; returns the body's length.
fn scrape() -> usize {
    let mut s = TcpStream::connect(LISTEN).expect("the exporter listens");
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {LISTEN}\r\n\r\n").unwrap();
    let mut body = Vec::with_capacity(16 * 1024);
    s.read_to_end(&mut body).unwrap();
    assert!(
        body.starts_with(b"HTTP/1.") && body.get(8..13) == Some(b" 200 "),
        "a scrape answered: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    body.len()
}

/// `VmRSS` and `VmHWM` of a process, KiB.
fn rss(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts the exporter on the bench's table and waits until it serves.
fn start() -> Child {
    let child = Command::new(super::ctrack_bin())
        .args(["exporter", "--listen", LISTEN])
        .stderr(Stdio::null())
        .spawn()
        .expect("ctrack exporter starts");
    let end = Instant::now() + Duration::from_secs(300);
    while TcpStream::connect(LISTEN).is_err() {
        assert!(Instant::now() < end, "the exporter did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Measures at the table as it is (`entries`), in `rounds` interleaved rounds.
fn at(bench: &Bench, entries: u32, rounds: usize) -> Cost {
    let mut child = start();
    let (mut scrapes, mut dumps) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        scrape();
        scrapes.push(t.elapsed());
        let t = Instant::now();
        let mut n = 0u32;
        bench
            .nfct
            .dump_with(Family::Any, &DumpFilter::default(), |_| n += 1)
            .unwrap();
        dumps.push(t.elapsed());
        assert!(n >= entries, "the dump saw {n} of {entries}");
    }
    let (rss_kib, hwm_kib) = rss(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Cost {
        entries,
        scrape: median(scrapes),
        dump: median(dumps),
        rss_kib,
        hwm_kib,
    }
}

/// Measures at the table's current size (`largest`, what the memory rows left) and at a small
/// one, and adds the rows.
pub fn measure(bench: &mut Bench, largest: u32) -> Vec<Cost> {
    super::quiet("ip", &["link", "set", "lo", "up"]);
    let small = if bench.quick { 500 } else { 10_000 };
    let rounds = if bench.quick { 3 } else { 21 };
    let big = at(bench, largest, rounds);
    bench.nfct.flush(Family::Any).unwrap();
    fill_varied(&bench.nfct, 0, small);
    let little = at(bench, small, rounds);
    for c in [&little, &big] {
        bench.rows.push(Row {
            op: format!("exporter scrape, {} entries", c.entries),
            who: "ctrack exporter (GET /metrics)".into(),
            median: c.scrape,
            per: None,
            ratio: None,
            note: format!(
                "{:.4} of one full dump of the same table ({:.1} ms, interleaved); exporter \
                 RSS {:.1} MiB (peak {:.1} MiB), {:.0} B per entry",
                c.scrape.as_secs_f64() / c.dump.as_secs_f64(),
                c.dump.as_secs_f64() * 1e3,
                c.rss_kib as f64 / 1024.0,
                c.hwm_kib as f64 / 1024.0,
                (c.rss_kib * 1024) as f64 / f64::from(c.entries)
            ),
        });
    }
    vec![little, big]
}
