//! The rows of `top`: one per entry or per group, with counters, rates from counter deltas,
//! age and timeout; sorted and printed as a text table.

use crate::format::l4_name;
use clap::ValueEnum;
use conntrack::Conn;
use conntrack::wire::ct::{DccpState, SctpState, TcpState, Tuple};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The value after `v` among its type's values, the first after the last.
fn cycle<T: ValueEnum + PartialEq + Copy>(v: T) -> T {
    let all = T::value_variants();
    let i = all.iter().position(|k| *k == v).unwrap_or(0);
    all[(i + 1) % all.len()]
}

/// What rows are sorted by (largest first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// Bytes, both directions.
    #[default]
    Bytes,
    /// Packets, both directions.
    Packets,
    /// Bytes per second over the last two counter samples.
    Rate,
    /// Time since the entry was created (needs nf_conntrack_timestamp).
    Age,
    /// Seconds until the entry expires.
    Timeout,
}

impl SortKey {
    /// The next key, for the key that cycles them.
    pub fn next(self) -> Self {
        cycle(self)
    }

    /// Whether sorting by this key needs fresh counters.
    pub fn needs_counters(self) -> bool {
        matches!(self, SortKey::Bytes | SortKey::Packets | SortKey::Rate)
    }

    /// The key's name.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Bytes => "bytes",
            SortKey::Packets => "packets",
            SortKey::Rate => "rate",
            SortKey::Age => "age",
            SortKey::Timeout => "timeout",
        }
    }
}

/// What entries are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum GroupKey {
    /// No grouping: one row per entry.
    #[default]
    None,
    /// The original source address.
    Src,
    /// The original destination address.
    Dst,
    /// The original destination port.
    Dport,
    /// The protocol.
    Proto,
    /// The protocol state.
    State,
    /// The zone.
    Zone,
}

impl GroupKey {
    /// The next key, for the key that cycles them.
    pub fn next(self) -> Self {
        cycle(self)
    }

    /// The key's name.
    pub fn name(self) -> &'static str {
        match self {
            GroupKey::None => "none",
            GroupKey::Src => "source",
            GroupKey::Dst => "destination",
            GroupKey::Dport => "destination port",
            GroupKey::Proto => "protocol",
            GroupKey::State => "state",
            GroupKey::Zone => "zone",
        }
    }
}

/// An entry's counters (and timeout) at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub bytes: u64,
    pub packets: u64,
    pub timeout: Option<u32>,
}

impl Sample {
    /// Both directions' counters of an entry (zero without accounting).
    pub fn of(c: &Conn) -> Self {
        let (o, r) = (c.counters_orig(), c.counters_reply());
        let sum = |f: fn(&conntrack::wire::ct::Counters) -> u64| {
            o.as_ref().map_or(0, f) + r.as_ref().map_or(0, f)
        };
        Sample {
            bytes: sum(|c| c.bytes),
            packets: sum(|c| c.packets),
            timeout: c.timeout,
        }
    }
}

/// The key of an entry's counter samples.
pub type Key = (Tuple, u16);

/// One row: an entry, or a group of entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The group's value (grouped rows), or the protocol name.
    pub label: String,
    pub src: String,
    pub dst: String,
    /// The original addresses and destination port, for grouping.
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub dport: Option<u16>,
    pub state: String,
    pub zone: u16,
    /// Entries in the row (1 for an entry).
    pub entries: u64,
    pub bytes: u64,
    pub packets: u64,
    /// Bytes and packets per second (0 without an earlier sample).
    pub bps: f64,
    pub pps: f64,
    /// Seconds since creation (the oldest, for a group).
    pub age: Option<u64>,
    /// Seconds to expiry (the longest, for a group).
    pub timeout: u32,
}

/// An address with a port, as `[v6]:port` or `v4:port`; the address alone without a port.
fn endpoint(a: Option<IpAddr>, port: Option<u16>) -> String {
    match (a, port) {
        (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, _) => "-".into(),
    }
}

/// An entry's protocol state name, or "" for a protocol without one.
pub fn state_name(c: &Conn) -> String {
    let Some(p) = c.protoinfo() else {
        return String::new();
    };
    if let Some(s) = p.tcp.and_then(|t| t.state) {
        return TcpState::from(s).name().into();
    }
    if let Some(s) = p.sctp.and_then(|t| t.state) {
        return SctpState::from(s).name().into();
    }
    if let Some(s) = p.dccp.and_then(|t| t.state) {
        return DccpState::from(s).name().into();
    }
    String::new()
}

/// The row of one entry; `now_ns` for its age, `prev` (counters `secs` seconds earlier)
/// for its rates.
pub fn entry_row(c: &Conn, now_ns: u64, prev: Option<(Sample, f64)>) -> Row {
    let t = c.tuple_orig.unwrap_or_default();
    let s = Sample::of(c);
    let (bps, pps) = match prev {
        Some((p, secs)) if secs > 0.0 => (
            s.bytes.saturating_sub(p.bytes) as f64 / secs,
            s.packets.saturating_sub(p.packets) as f64 / secs,
        ),
        _ => (0.0, 0.0),
    };
    Row {
        label: l4_name(t.proto.num.unwrap_or(0)).into(),
        src: endpoint(t.src, t.proto.src_port),
        dst: endpoint(t.dst, t.proto.dst_port),
        src_addr: t.src,
        dst_addr: t.dst,
        dport: t.proto.dst_port,
        state: state_name(c),
        zone: c.zone.unwrap_or(0),
        entries: 1,
        bytes: s.bytes,
        packets: s.packets,
        bps,
        pps,
        age: c
            .timestamp()
            .and_then(|ts| ts.start)
            .map(|start| now_ns.saturating_sub(start) / 1_000_000_000),
        timeout: c.timeout.unwrap_or(0),
    }
}

/// The value an entry row is grouped under.
fn group_of(r: &Row, key: GroupKey) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    match key {
        GroupKey::None => String::new(),
        GroupKey::Src => or_dash(r.src_addr.map(|a| a.to_string())),
        GroupKey::Dst => or_dash(r.dst_addr.map(|a| a.to_string())),
        GroupKey::Dport => or_dash(r.dport.map(|p| p.to_string())),
        GroupKey::Proto => r.label.clone(),
        GroupKey::State if r.state.is_empty() => "-".into(),
        GroupKey::State => r.state.clone(),
        GroupKey::Zone => r.zone.to_string(),
    }
}

/// Entry rows summed into one row per group value.
pub fn group(rows: Vec<Row>, key: GroupKey) -> Vec<Row> {
    if key == GroupKey::None {
        return rows;
    }
    let mut m: HashMap<String, Row> = HashMap::new();
    for r in rows {
        let g = m.entry(group_of(&r, key)).or_insert_with_key(|k| Row {
            label: k.clone(),
            ..Row::default()
        });
        g.entries += 1;
        g.bytes += r.bytes;
        g.packets += r.packets;
        g.bps += r.bps;
        g.pps += r.pps;
        g.age = g.age.max(r.age);
        g.timeout = g.timeout.max(r.timeout);
    }
    m.into_values().collect()
}

/// Sorts rows by `key`, largest first (ties by label, source, destination).
pub fn sort(rows: &mut [Row], key: SortKey) {
    let k = |r: &Row| -> f64 {
        match key {
            SortKey::Bytes => r.bytes as f64,
            SortKey::Packets => r.packets as f64,
            SortKey::Rate => r.bps,
            SortKey::Age => r.age.map_or(-1.0, |a| a as f64),
            SortKey::Timeout => f64::from(r.timeout),
        }
    };
    rows.sort_by(|a, b| {
        k(b).total_cmp(&k(a))
            .then_with(|| a.label.cmp(&b.label))
            .then_with(|| a.src.cmp(&b.src))
            .then_with(|| a.dst.cmp(&b.dst))
    });
}

/// A count with a unit suffix (K, M, G, T), as top prints them.
pub fn human(v: f64) -> String {
    let mut v = v;
    for unit in ["", "K", "M", "G", "T"] {
        if v < 1000.0 || unit == "T" {
            return if unit.is_empty() {
                format!("{}", v.round() as u64)
            } else {
                format!("{v:.1}{unit}")
            };
        }
        v /= 1000.0;
    }
    unreachable!("the loop returns at its last unit")
}

/// The column headers.
pub fn header(grouped: GroupKey) -> String {
    match grouped {
        GroupKey::None => format!(
            "{:<8} {:<45} {:<45} {:<12} {:>5} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
            "PROTO",
            "SOURCE",
            "DESTINATION",
            "STATE",
            "ZONE",
            "BYTES",
            "PACKETS",
            "B/S",
            "PKT/S",
            "AGE",
            "TIMEOUT"
        ),
        g => format!(
            "{:<45} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
            g.name().to_uppercase(),
            "ENTRIES",
            "BYTES",
            "PACKETS",
            "B/S",
            "PKT/S",
            "AGE",
            "TIMEOUT"
        ),
    }
}

/// One row as a line of the table (exact counts with `exact`, else with unit suffixes).
pub fn line(r: &Row, grouped: GroupKey, exact: bool) -> String {
    let n = |v: u64| {
        if exact {
            v.to_string()
        } else {
            human(v as f64)
        }
    };
    let age = r.age.map_or_else(|| "-".into(), |a| format!("{a}s"));
    let mut s = String::new();
    match grouped {
        GroupKey::None => {
            let _ = write!(
                s,
                "{:<8} {:<45} {:<45} {:<12} {:>5} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
                r.label,
                r.src,
                r.dst,
                if r.state.is_empty() { "-" } else { &r.state },
                r.zone,
                n(r.bytes),
                n(r.packets),
                human(r.bps),
                human(r.pps),
                age,
                r.timeout
            );
        }
        _ => {
            let _ = write!(
                s,
                "{:<45} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
                r.label,
                r.entries,
                n(r.bytes),
                n(r.packets),
                human(r.bps),
                human(r.pps),
                age,
                r.timeout
            );
        }
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(src: &str, dst: &str, bytes: u64) -> Row {
        let sa: std::net::SocketAddr = src.parse().unwrap();
        let da: std::net::SocketAddr = dst.parse().unwrap();
        Row {
            label: "tcp".into(),
            src: src.into(),
            dst: dst.into(),
            src_addr: Some(sa.ip()),
            dst_addr: Some(da.ip()),
            dport: Some(da.port()),
            entries: 1,
            bytes,
            ..Row::default()
        }
    }

    #[test]
    fn groups_sum_and_sort() {
        let rows = vec![
            row("10.0.0.1:1", "10.0.0.9:80", 5),
            row("10.0.0.2:1", "10.0.0.9:80", 7),
            row("[2001:db8::1]:1", "[2001:db8::9]:443", 100),
        ];
        let mut g = group(rows.clone(), GroupKey::Dst);
        sort(&mut g, SortKey::Bytes);
        assert_eq!(g[0].label, "2001:db8::9");
        assert_eq!(
            (g[1].label.as_str(), g[1].entries, g[1].bytes),
            ("10.0.0.9", 2, 12)
        );
        let mut p = group(rows.clone(), GroupKey::Dport);
        sort(&mut p, SortKey::Bytes);
        assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("443", "80"));
        let mut e = rows;
        sort(&mut e, SortKey::Bytes);
        assert_eq!(e[2].bytes, 5);
    }

    #[test]
    fn keys_cycle_and_counts_read() {
        assert_eq!(SortKey::Timeout.next(), SortKey::Bytes);
        assert_eq!(GroupKey::Zone.next(), GroupKey::None);
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1500.0), "1.5K");
        assert_eq!(human(2_500_000.0), "2.5M");
    }
}
