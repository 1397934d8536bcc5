//! `ctrack top` against conntrack-tools: `--once` tables, and the full screen in tmux, each
//! in a fresh network namespace with real traffic.
#![cfg(feature = "cli")]

#[macro_use]
mod common;

use common::{conntrack, run};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

fn ctrack(args: &[&str]) -> String {
    let out = Command::new(common::ctrack_bin())
        .args(args)
        .output()
        .expect("ctrack runs");
    assert!(
        out.status.success(),
        "ctrack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tracks loopback traffic and makes `n` TCP connections with a request and a response.
fn traffic(n: usize) -> Vec<(std::net::TcpStream, std::net::TcpStream)> {
    let _ = Command::new("nft")
        .args(["add table inet trk ; add chain inet trk c { type filter hook output priority 0 ; } ; add rule inet trk c ct state new counter"])
        .status();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (0..n)
        .map(|_| conntrack::sock::traffic::http_exchange(addr, &l).unwrap())
        .collect()
}

/// An entry as both tools show it: protocol, endpoints, state, zone, bytes and packets.
fn row_of_conntrack(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    let proto = w[2];
    let state = if w[5].contains('=') { "-" } else { w[5] };
    let first = |k: &str| w.iter().find_map(|t| t.strip_prefix(k));
    let end = |a: &str, p: Option<&str>| {
        let a6 = a.contains(':');
        match p {
            Some(p) if a6 => format!("[{a}]:{p}"),
            Some(p) => format!("{a}:{p}"),
            None => a.to_string(),
        }
    };
    let src = end(first("src=").unwrap(), first("sport="));
    let dst = end(first("dst=").unwrap(), first("dport="));
    let sum = |k: &str| -> u64 {
        w.iter()
            .filter_map(|t| t.strip_prefix(k))
            .map(|v| v.parse::<u64>().unwrap())
            .sum()
    };
    let zone = first("zone=").unwrap_or("0");
    format!(
        "{proto} {src} {dst} {state} {zone} {} {}",
        sum("bytes="),
        sum("packets=")
    )
}

/// The same from a line of `top --once` (columns: proto, source, destination, state, zone,
/// bytes, packets, ...).
fn row_of_top(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    w[..7].join(" ")
}

/// The rows of `top --once` with `args`, and its header line.
fn top_rows(args: &[&str]) -> (String, Vec<String>) {
    let mut a = vec!["top", "--once"];
    a.extend_from_slice(args);
    let out = ctrack(&a);
    let mut lines = out.lines();
    let head = lines.next().unwrap().to_string();
    assert!(lines.next().unwrap().starts_with("PROTO"));
    (head, lines.map(row_of_top).collect())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn top_once_shows_what_conntrack_lists() {
    netns!();
    run("ip", &["link", "set", "lo", "up"]);
    // Accounting on (through top itself), then a varied table and traffic with bytes.
    ctrack(&["top", "--once", "--enable-acct", "--limit", "1"]);
    let filled = common::table::fill(&conntrack::Nfct::open().unwrap());
    let _conns = traffic(3);
    let listed: Vec<String> = conntrack(&["-L", "-o", "extended"])
        .lines()
        .map(row_of_conntrack)
        .collect();
    assert_eq!(listed.len(), filled + 3);
    let (head, rows) = top_rows(&[]);
    assert!(
        head.starts_with(&format!("ctrack top: {} entries of ", listed.len())),
        "{head}"
    );
    assert!(head.contains("counters: on"), "{head}");
    assert_eq!(sorted(rows.clone()), sorted(listed.clone()));
    // Sorted by bytes, largest first: the three connections lead.
    let bytes: Vec<u64> = rows
        .iter()
        .map(|r| r.split(' ').nth(5).unwrap().parse().unwrap())
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{bytes:?}");
    assert!(bytes[2] > 0 && rows[0].contains("127.0.0.1"), "{rows:?}");
    // A selection: the same options as list.
    for sel in [
        &["-p", "tcp", "--dport", "22"][..],
        &["-f", "ipv6"],
        &["-w", "3"],
    ] {
        let (_, rows) = top_rows(sel);
        let mut l = vec!["-L", "-o", "extended"];
        l.extend_from_slice(sel);
        let listed: Vec<String> = conntrack(&l).lines().map(row_of_conntrack).collect();
        assert!(!listed.is_empty(), "{sel:?}");
        assert_eq!(sorted(rows), sorted(listed), "{sel:?}");
    }
    // Grouped by destination: one row per address, its count as conntrack -L's.
    let out = ctrack(&["top", "--once", "--group", "dst"]);
    let groups: BTreeMap<String, u64> = out
        .lines()
        .skip(2)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[1].parse().unwrap())
        })
        .collect();
    let mut want = BTreeMap::new();
    for l in conntrack(&["-L"]).lines() {
        let d = l
            .split_whitespace()
            .find_map(|t| t.strip_prefix("dst="))
            .unwrap();
        *want.entry(d.to_string()).or_insert(0) += 1;
    }
    assert_eq!(groups, want);
    // Options that do not apply are refused.
    let out = Command::new(common::ctrack_bin())
        .args(["top", "--once", "-o", "xml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// tmux with its own server socket, killed when dropped.
struct Tmux(std::path::PathBuf);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("tmux is installed (apt-get install tmux)");
        assert!(out.status.success(), "tmux {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits until the screen satisfies `f`; returns it.
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .status();
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn top_screen_follows_the_table_in_tmux() {
    netns!();
    run("ip", &["link", "set", "lo", "up"]);
    let filled = common::table::fill(&conntrack::Nfct::open().unwrap()) + 2;
    let _conns = traffic(2);
    let sock = std::env::temp_dir().join(format!("ctrack-tmux-{}", std::process::id()));
    let t = Tmux(sock);
    let cmd = format!(
        "'{}' top --sort timeout --interval 0.2; echo top-ended; sleep 60",
        common::ctrack_bin()
    );
    t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    let s = t.wait("the first screen", |s| s.contains("entries of"));
    assert!(
        s.contains(&format!("ctrack top: {filled} entries of ")),
        "{s}"
    );
    assert!(s.contains("s: sort") && s.contains("q: quit"), "{s}");
    assert!(s.contains("counters: OFF, see --enable-acct"), "{s}");
    // A new entry with the longest timeout: counted, and first in the rows.
    conntrack(&[
        "-I",
        "-p",
        "tcp",
        "-s",
        "10.77.0.1",
        "-d",
        "10.77.0.2",
        "--sport",
        "1",
        "--dport",
        "2",
        "--state",
        "ESTABLISHED",
        "-t",
        "900000",
    ]);
    let count: usize = conntrack(&["-C"]).trim().parse().unwrap();
    let s = t.wait("the new entry", |s| {
        s.contains(&format!("ctrack top: {count} entries of "))
    });
    let first_row = s
        .lines()
        .skip_while(|l| !l.starts_with("PROTO"))
        .nth(1)
        .unwrap();
    assert!(first_row.contains("10.77.0.1:1"), "{s}");
    assert!(s.contains("new/upd/del per s"), "{s}");
    // Keys: a filter typed after `/` (list's options), a bad one refused, grouping, quit;
    // then the terminal is the shell's again.
    t.cmd(&["send-keys", "-t", "top", "/"]);
    t.cmd(&["send-keys", "-t", "top", "-l", "--", "-s 10.77.0.1"]);
    t.cmd(&["send-keys", "-t", "top", "Enter"]);
    let s = t.wait("the filter", |s| {
        s.contains("1 rows (filter: -s 10.77.0.1)")
    });
    let rows: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.starts_with("PROTO"))
        .skip(1)
        .filter(|l| l.starts_with("tcp") || l.starts_with("udp"))
        .collect();
    assert_eq!(rows.len(), 1, "{s}");
    t.cmd(&["send-keys", "-t", "top", "/"]);
    t.cmd(&["send-keys", "-t", "top", "-l", "--", " --bogus"]);
    t.cmd(&["send-keys", "-t", "top", "Enter"]);
    t.wait("the refusal", |s| {
        s.contains("not applied: unexpected argument '--bogus'")
    });
    t.cmd(&["send-keys", "-t", "top", "g"]);
    let s = t.wait("grouping", |s| s.contains("group: source"));
    assert!(s.contains("10.77.0.1"), "{s}");
    t.cmd(&["send-keys", "-t", "top", "q"]);
    let s = t.wait("top to end", |s| s.contains("top-ended"));
    assert!(
        !s.contains("entries of"),
        "the alternate screen is gone:\n{s}"
    );
    // Ctrl-C ends it the same way, the terminal restored.
    let cmd = format!(
        "'{}' top; echo top-ended-again; sleep 60",
        common::ctrack_bin()
    );
    t.cmd(&["new-window", "-t", "top", &cmd]);
    t.wait("the second screen", |s| s.contains("entries of"));
    t.cmd(&["send-keys", "-t", "top", "C-c"]);
    let s = t.wait("top to end on Ctrl-C", |s| s.contains("top-ended-again"));
    assert!(
        !s.contains("entries of"),
        "the alternate screen is gone:\n{s}"
    );
}
