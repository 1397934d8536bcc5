//! `ctrack exporter` against conntrack-tools and a real Prometheus server, in a fresh network
//! namespace with real traffic.
#![cfg(feature = "cli")]

#[macro_use]
mod common;

use common::{conntrack, run};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXPORTER: &str = "127.0.0.1:19466";
const PROMETHEUS: &str = "127.0.0.1:19090";

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// One HTTP/1.0 GET; returns the body (panics on a status other than 200).
fn get(addr: &str, path: &str, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
}

/// Waits until `f` holds, for at most `secs` seconds.
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > end {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The samples of Prometheus' text format: `name{labels}` to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// The `conntrack_entries` series that `conntrack -L -o extended` implies.
fn expected_entries() -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for l in conntrack(&["-L", "-o", "extended"]).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let (family, proto) = (w[0], w[2]);
        let state = if proto == "tcp" { w[5] } else { "" };
        let zone = w
            .iter()
            .find_map(|t| t.strip_prefix("zone="))
            .unwrap_or("0");
        let k = format!(
            "conntrack_entries{{family=\"{family}\",protocol=\"{proto}\",state=\"{state}\",zone=\"{zone}\"}}"
        );
        *m.entry(k).or_insert(0.0) += 1.0;
    }
    m
}

/// `conntrack -S` (and `-S expect`) as the exporter's per-CPU counter series.
fn expected_stats() -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for (args, prefix) in [
        (&["-S"][..], "conntrack_stat_"),
        (&["-S", "expect"][..], "conntrack_expect_stat_"),
    ] {
        for l in conntrack(args).lines() {
            let mut w = l.split_whitespace();
            let cpu = w.next().unwrap().strip_prefix("cpu=").unwrap();
            for kv in w {
                let (k, v) = kv.split_once('=').unwrap();
                let k = k.strip_prefix("expect_").unwrap_or(k);
                m.insert(
                    format!("{prefix}{k}_total{{cpu=\"{cpu}\"}}"),
                    v.parse().unwrap(),
                );
            }
        }
    }
    m
}

/// Tracks loopback traffic (nothing is tracked in a namespace until a rule asks) but the
/// scrapes', and makes `n` TCP connections.
fn traffic(n: usize) -> Vec<(std::net::TcpStream, std::net::TcpStream)> {
    for cmd in [
        "add table inet trk",
        "add chain inet trk c { type filter hook output priority 0 ; }",
        "add rule inet trk c ct state new counter",
        // The scrapes themselves stay out of the table.
        "add chain inet trk raw { type filter hook output priority -300 ; }",
        "add rule inet trk raw tcp dport { 19466, 19090 } notrack",
        "add rule inet trk raw tcp sport { 19466, 19090 } notrack",
    ] {
        if !Command::new("nft")
            .args(cmd.split(' '))
            .status()
            .expect("nftables is installed")
            .success()
        {
            // Already there from an earlier call.
            break;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (0..n)
        .map(|_| conntrack::sock::traffic::http_exchange(addr, &l).unwrap())
        .collect()
}

#[test]
fn exporter_matches_conntrack_tools_and_prometheus_scrapes_it() {
    netns!();
    run("ip", &["link", "set", "lo", "up"]);
    let nfct = conntrack::Nfct::open().unwrap();
    let filled = common::table::fill(&nfct);
    let _before = traffic(3);
    let start_count: f64 = conntrack(&["-C"]).trim().parse().unwrap();
    let exporter = Killed(
        Command::new(common::ctrack_bin())
            .args(["exporter", "--listen", EXPORTER, "--top-remotes", "2"])
            .args(["--recheck-interval", "2"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(10, "the exporter to listen", || {
        TcpStream::connect(EXPORTER).is_ok()
    });
    let scrape = || samples(&get(EXPORTER, "/metrics", "text/plain"));
    assert_eq!(scrape()["conntrack_entries_silent"], start_count);
    // Changes after the start: two connections and an entry (NEW events), that entry
    // deleted (DESTROY), and an entry from before the start deleted: where
    // nf_conntrack_events is 2 the kernel may send no event for it, and then the next
    // re-check finds it gone.
    let _after = traffic(2);
    conntrack(&words(
        "-I -p udp -s 10.9.9.9 -d 10.9.9.8 --sport 1 --dport 2 -t 100",
    ));
    conntrack(&["-D", "-s", "10.9.9.9"]);
    conntrack(&["-D", "-p", "udp", "-s", "10.0.0.7"]);
    wait_until(
        20,
        "the events counted and the deleted entry re-checked",
        || {
            let s = scrape();
            s["conntrack_events_total{type=\"new\"}"] >= 3.0
                && s["conntrack_events_total{type=\"destroy\"}"] >= 1.0
                && s["conntrack_entries_silent"] == start_count - 1.0
        },
    );
    // The table is still now (the connections stay open): the exporter against
    // conntrack-tools of the same moment.
    let text = get(EXPORTER, "/metrics", "text/plain");
    let s = samples(&text);
    let count: f64 = conntrack(&["-C"]).trim().parse().unwrap();
    assert!(count > filled as f64, "{count}");
    assert_eq!(s["conntrack_table_entries"], count);
    let entries: BTreeMap<String, f64> = s
        .iter()
        .filter(|(k, _)| k.starts_with("conntrack_entries{"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(entries, expected_entries());
    for (k, v) in expected_stats() {
        assert_eq!(s.get(&k), Some(&v), "{k}");
    }
    assert_eq!(s["conntrack_events_total{type=\"new\"}"], 3.0);
    // The entry from before the start sent its DESTROY only if some listener, anywhere on
    // the host (the kernel's flag is global), existed when it was made.
    let destroyed = s["conntrack_events_total{type=\"destroy\"}"];
    assert!(destroyed == 1.0 || destroyed == 2.0, "{destroyed}");
    assert_eq!(s["conntrack_events_lost_total"], 0.0);
    if destroyed == 1.0 {
        assert!(
            s["conntrack_resyncs_total"] >= 2.0,
            "the entry that went silently was found gone by a re-check, a dump"
        );
    }
    assert_eq!(s["conntrack_entries_kept"], count);
    assert_eq!(s["conntrack_remote_entries{address=\"127.0.0.1\"}"], 5.0);
    let max: f64 = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(s["conntrack_table_max_entries"], max);
    // promtool accepts the exposition.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    prometheus_scrapes(count, &entries);
    drop(exporter);
}

/// A real Prometheus server scrapes the exporter (OpenMetrics); its query API returns the
/// values conntrack-tools reads.
fn prometheus_scrapes(count: f64, entries: &BTreeMap<String, f64>) {
    let dir = std::env::temp_dir().join(format!("ctrack-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ctrack\n    static_configs:\n      - targets: ['{EXPORTER}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={PROMETHEUS}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (apt-get install prometheus)"),
    );
    let query = |q: &str| -> Vec<serde_json::Value> {
        let Ok(mut s) = TcpStream::connect(PROMETHEUS) else {
            return Vec::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /api/v1/query?query={q} HTTP/1.0\r\nHost: {PROMETHEUS}\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let Some((_, body)) = text.split_once("\r\n\r\n") else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    let value = |r: &serde_json::Value| -> f64 { r["value"][1].as_str().unwrap().parse().unwrap() };
    wait_until(60, "Prometheus to scrape the exporter", || {
        query("conntrack_table_entries").len() == 1
    });
    assert_eq!(value(&query("conntrack_table_entries")[0]), count);
    let got: BTreeMap<String, f64> = query("conntrack_entries")
        .iter()
        .map(|r| {
            let m = &r["metric"];
            (
                format!(
                    "conntrack_entries{{family=\"{}\",protocol=\"{}\",state=\"{}\",zone=\"{}\"}}",
                    m["family"].as_str().unwrap(),
                    m["protocol"].as_str().unwrap(),
                    m["state"].as_str().unwrap_or(""),
                    m["zone"].as_str().unwrap()
                ),
                value(r),
            )
        })
        .collect();
    assert_eq!(&got, entries);
    let up = query("up");
    assert_eq!(value(&up[0]), 1.0, "{up:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
