//! Memory: what holding (or streaming) the table costs, each way measured in a child process
//! of its own (peak RSS of the whole process, `VmHWM`), side by side at each table size:
//! a streamed dump, the owned dump (`Nfct::dump` into a `Vec<Conn>`), a `Mirror` loaded by
//! `resync`, and a C program's plain structs filled through libnetfilter_conntrack.

use super::{Bench, Row};
use conntrack::{Conn, Family, Mirror, Nfct};
use conntrack_benches::{fill_varied, peer_collect, stream_dump};
use std::io::{Read, Seek, Write};
use std::process::Command;
use std::time::Duration;

/// The ways to hold the table, as the child is told them.
pub const WAYS: [&str; 4] = ["streamed", "owned", "mirror", "c-struct"];

/// What one child measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Footprint {
    /// Entries dumped.
    pub entries: u64,
    /// Peak RSS before the dump, KiB.
    pub before_kib: u64,
    /// Peak RSS after it, KiB.
    pub peak_kib: u64,
    /// The heap bytes of what is held (0 for a streamed dump).
    pub heap: u64,
}

impl Footprint {
    /// Bytes of peak RSS that the dump added, per entry.
    pub fn per_entry(&self) -> f64 {
        (self.peak_kib.saturating_sub(self.before_kib) * 1024) as f64 / self.entries.max(1) as f64
    }
}

/// Every way at every size: `at[size][way]`, ways in [`WAYS`] order.
pub struct Memory {
    /// The table sizes, ascending.
    pub sizes: Vec<u32>,
    /// The footprints.
    pub at: Vec<[Footprint; 4]>,
}

impl Memory {
    /// The footprint of `way` at the largest size.
    pub fn largest(&self, way: &str) -> Footprint {
        let i = WAYS.iter().position(|w| *w == way).unwrap_or(0);
        self.at.last().map(|f| f[i]).unwrap_or_default()
    }

    /// The streamed dump's peak RSS at every size, KiB.
    pub fn streamed_peaks(&self) -> Vec<u64> {
        self.at.iter().map(|f| f[0].peak_kib).collect()
    }
}

/// Child mode: open the parent's namespace (which holds the table) by path, hold the table
/// `way`, and print the entry count, the peak RSS before and after, in KiB, and the bytes held.
pub fn child(netns: &str, way: &str) {
    let before = super::vm_hwm_kib();
    let (entries, heap) = match way {
        "c-struct" => {
            let ns = std::fs::File::open(netns).unwrap();
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            peer_collect(0).unwrap()
        }
        _ => {
            let nfct = Nfct::open_with(conntrack::Config::default().netns(netns)).unwrap();
            match way {
                "owned" => {
                    let v: Vec<Conn> = nfct.dump(Family::Any).unwrap();
                    let heap = v.capacity() * std::mem::size_of::<Conn>();
                    (std::hint::black_box(v).len() as u64, heap as u64)
                }
                "mirror" => {
                    let mut m = Mirror::new();
                    m.resync(&nfct).unwrap();
                    let heap = m.heap_bytes() as u64;
                    (std::hint::black_box(m).len() as u64, heap)
                }
                _ => {
                    let (count, acc) = stream_dump(&nfct);
                    std::hint::black_box(acc);
                    (count, 0)
                }
            }
        }
    };
    println!("{entries} {before} {} {heap}", super::vm_hwm_kib());
}

/// Raises the kernel's `nf_conntrack_max` (global: set in the initial namespace, through a
/// file opened there) so that the largest table fits, and puts it back when dropped.
pub struct ConntrackMax {
    file: std::fs::File,
    was: Option<u64>,
}

impl ConntrackMax {
    /// Opens the setting; call before leaving the initial network namespace.
    pub fn open() -> Option<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/sys/net/netfilter/nf_conntrack_max")
            .ok()?;
        Some(ConntrackMax { file, was: None })
    }

    /// Makes room for `n` entries (and some slack); returns whether the table can hold them.
    pub fn at_least(&mut self, n: u64) -> bool {
        let mut s = String::new();
        let _ = self.file.rewind();
        let _ = self.file.read_to_string(&mut s);
        let Ok(now) = s.trim().parse::<u64>() else {
            return false;
        };
        let want = n + n / 16;
        if now >= want {
            return true;
        }
        let _ = self.file.rewind();
        let ok = self.file.write_all(want.to_string().as_bytes()).is_ok();
        if ok && self.was.is_none() {
            self.was = Some(now);
        }
        ok
    }
}

impl Drop for ConntrackMax {
    fn drop(&mut self) {
        if let Some(was) = self.was {
            let _ = self.file.rewind();
            let _ = self.file.write_all(was.to_string().as_bytes());
        }
    }
}

/// Measures every way at each size (filling the table up to each), in child processes.
pub fn measure(bench: &mut Bench, max: &mut Option<ConntrackMax>) -> Memory {
    let exe = std::env::current_exe().unwrap();
    let ns = format!(
        "/proc/{}/task/{}/ns/net",
        std::process::id(),
        nix::unistd::gettid()
    );
    bench.nfct.flush(Family::Any).unwrap();
    let mut sizes = if bench.quick {
        vec![1_000u32, 2_000]
    } else {
        vec![25_000, 250_000, 1_000_000]
    };
    if let Some(&top) = sizes.last() {
        let fits = max.as_mut().is_some_and(|m| m.at_least(u64::from(top)));
        if !fits && top > 250_000 {
            eprintln!("nf_conntrack_max cannot be raised: the memory rows stop at 250000");
            sizes.retain(|&k| k <= 250_000);
        }
    }
    let (mut filled, mut at) = (0, Vec::new());
    for &k in &sizes {
        fill_varied(&bench.nfct, filled, k);
        filled = k;
        let mut row = [Footprint::default(); 4];
        for (i, way) in WAYS.iter().enumerate() {
            let out = Command::new(&exe)
                .env("CT_BENCH_RSS_NETNS", &ns)
                .env("CT_BENCH_RSS_WAY", way)
                .output()
                .unwrap();
            let s = String::from_utf8_lossy(&out.stdout);
            let f: Vec<u64> = s
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            assert!(
                f.len() == 4 && f[0] == u64::from(k),
                "{way} child at {k}: {s} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            row[i] = Footprint {
                entries: f[0],
                before_kib: f[1],
                peak_kib: f[2],
                heap: f[3],
            };
            bench.rows.push(Row {
                op: format!("peak RSS, {k} entries"),
                who: who(way).into(),
                median: Duration::ZERO,
                per: None,
                ratio: None,
                note: note(way, &row[i]),
            });
        }
        at.push(row);
    }
    Memory { sizes, at }
}

fn who(way: &str) -> &'static str {
    match way {
        "streamed" => "conntrack-rs dump_with (streamed)",
        "owned" => "conntrack-rs Nfct::dump into Vec<Conn>",
        "mirror" => "conntrack-rs Mirror::resync",
        _ => "C plain structs via libnetfilter_conntrack",
    }
}

fn note(way: &str, f: &Footprint) -> String {
    let whole = format!(
        "whole process {} KiB ({} KiB before the dump)",
        f.peak_kib, f.before_kib
    );
    match way {
        "streamed" => whole,
        "owned" => format!(
            "{whole}; {:.0} B per entry ({} B a Conn, {:.0} B per entry in the vector)",
            f.per_entry(),
            std::mem::size_of::<Conn>(),
            f.heap as f64 / f.entries.max(1) as f64
        ),
        "mirror" => format!(
            "{whole}; {:.0} B per entry (entries and index: {:.0} B per entry)",
            f.per_entry(),
            f.heap as f64 / f.entries.max(1) as f64
        ),
        _ => format!(
            "{whole}; {:.0} B per entry ({:.0} B per entry in the array)",
            f.per_entry(),
            f.heap as f64 / f.entries.max(1) as f64
        ),
    }
}
