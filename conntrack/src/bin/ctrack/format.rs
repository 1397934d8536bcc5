//! conntrack-tools' text format (`conntrack -L`, `-E`) and a JSON form, for owned entries.
//! Lines are written into a caller's buffer, which a listing or an event stream reuses, so
//! that printing allocates nothing per entry.
//!
//! The text form reproduces libnetfilter_conntrack's default output field by field, so that
//! scripts written against `conntrack -L` keep working; the JSON form has one object per entry
//! with stable field names.

use conntrack::events::EventKind;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{LabelsView, SctpState, Status, TcpState, Tuple};
use conntrack::{Conn, Exp};
use std::fmt::Write;

/// Which optional parts of a line to print (conntrack-tools' `-o` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `-o extended`: the layer-3 protocol first.
    pub extended: bool,
    /// `-o id`: the entry id.
    pub id: bool,
    /// `-o labels`: the label names (`labelN` unless a map names them).
    pub labels: bool,
    /// `-o timestamp`: event timestamps (for `events`).
    pub timestamp: bool,
    /// `-o ktimestamp`: the kernel's start and stop times of the entry, in local time.
    pub ktimestamp: bool,
    /// `-o xml`: libnetfilter_conntrack's XML form (see `xml.rs`).
    pub xml: bool,
    /// `-o save`: each entry as the command line that makes it again.
    pub save: bool,
}

pub(crate) fn l3_name(af: u8) -> &'static str {
    match af {
        AF_INET => "ipv4",
        AF_INET6 => "ipv6",
        _ => "unknown",
    }
}

pub(crate) fn l4_name(p: u8) -> &'static str {
    match p {
        IPPROTO_TCP => "tcp",
        IPPROTO_UDP => "udp",
        IPPROTO_ICMP => "icmp",
        IPPROTO_ICMPV6 => "icmpv6",
        IPPROTO_SCTP => "sctp",
        IPPROTO_DCCP => "dccp",
        IPPROTO_GRE => "gre",
        IPPROTO_UDPLITE => "udplite",
        _ => "unknown",
    }
}

fn tuple(out: &mut String, t: &Tuple) {
    if let Some(s) = t.src {
        let _ = write!(out, "src={s} ");
    }
    if let Some(d) = t.dst {
        let _ = write!(out, "dst={d} ");
    }
    // As libnetfilter_conntrack, by protocol number: a port or key the entry lacks (a
    // protocol the kernel does not track, e.g. DCCP since 6.16) prints as 0.
    let p = &t.proto;
    let (sport, dport) = (p.src_port.unwrap_or(0), p.dst_port.unwrap_or(0));
    match p.num {
        // GRE's keys travel in the port attributes; conntrack-tools prints them in hex.
        Some(IPPROTO_GRE) => {
            let _ = write!(out, "srckey={sport:#x} dstkey={dport:#x} ");
        }
        Some(IPPROTO_TCP | IPPROTO_UDP | IPPROTO_UDPLITE | IPPROTO_SCTP | IPPROTO_DCCP) => {
            let _ = write!(out, "sport={sport} dport={dport} ");
        }
        Some(IPPROTO_ICMP | IPPROTO_ICMPV6) => {
            let _ = write!(
                out,
                "type={} code={} id={} ",
                p.icmp_type.or(p.icmpv6_type).unwrap_or(0),
                p.icmp_code.or(p.icmpv6_code).unwrap_or(0),
                p.icmp_id.or(p.icmpv6_id).unwrap_or(0)
            );
        }
        _ => {}
    }
}

/// Writes a tuple with prefixed address keys (`mask-src=`, `master-dst=`, ...), as
/// conntrack-tools prints the mask and master of an expectation.
fn prefixed_tuple(out: &mut String, prefix: &str, t: &Tuple) {
    if let Some(a) = t.src {
        let _ = write!(out, "{prefix}-src={a} ");
    }
    if let Some(a) = t.dst {
        let _ = write!(out, "{prefix}-dst={a} ");
    }
    let mut rest = *t;
    (rest.src, rest.dst) = (None, None);
    tuple(out, &rest);
}

/// Appends one entry to `s` as `conntrack -L` prints it (no newline). `now_ns` is used for
/// `delta-time`.
// Long: one statement per field of conntrack-tools' line, in its order.
pub fn write_line(s: &mut String, c: &Conn, family: u8, o: Options, now_ns: u64) {
    let start = s.len();
    let orig = c.tuple_orig.unwrap_or_default();
    let proto = orig.proto.num.unwrap_or(0);
    if o.extended {
        let _ = write!(s, "{:<8} {} ", l3_name(family), family);
    }
    let _ = write!(s, "{:<8} {} ", l4_name(proto), proto);
    if let Some(t) = c.timeout {
        let _ = write!(s, "{t} ");
    }
    let pi = c.protoinfo().unwrap_or_default();
    match proto {
        IPPROTO_TCP => {
            if let Some(st) = pi.tcp.and_then(|t| t.state) {
                let _ = write!(s, "{} ", TcpState::from(st).name());
            }
        }
        IPPROTO_SCTP => {
            if let Some(st) = pi.sctp.and_then(|t| t.state) {
                let _ = write!(s, "{} ", SctpState::from(st).name());
            }
        }
        IPPROTO_DCCP => {
            if let Some(st) = pi.dccp.and_then(|t| t.state) {
                let _ = write!(s, "{} ", conntrack::wire::ct::DccpState::from(st).name());
            }
        }
        _ => {}
    }
    let status = c.status.unwrap_or_default();
    tuple(s, &orig);
    if let Some(z) = orig.zone {
        let _ = write!(s, "zone-orig={z} ");
    }
    if let Some(k) = c.counters_orig() {
        let _ = write!(s, "packets={} bytes={} ", k.packets, k.bytes);
    }
    if c.status.is_some() && !status.contains(Status::SEEN_REPLY) {
        s.push_str("[UNREPLIED] ");
    }
    if let Some(r) = &c.tuple_reply {
        tuple(s, r);
        if let Some(z) = r.zone {
            let _ = write!(s, "zone-reply={z} ");
        }
    }
    if let Some(k) = c.counters_reply() {
        let _ = write!(s, "packets={} bytes={} ", k.packets, k.bytes);
    }
    if status.contains(Status::ASSURED) {
        s.push_str("[ASSURED] ");
    }
    if status.contains(Status::OFFLOAD) {
        s.push_str("[OFFLOAD] ");
    }
    if status.contains(Status::HW_OFFLOAD) {
        s.push_str("[HW_OFFLOAD] ");
    }
    if let Some(m) = c.mark {
        let _ = write!(s, "mark={m} ");
    }
    if let Some(m) = c.ext().secmark.filter(|m| *m != 0) {
        let _ = write!(s, "secmark={m} ");
    }
    if let Some(x) = &c.ext().secctx {
        let _ = write!(s, "secctx={x} ");
    }
    if let Some(z) = c.zone.filter(|z| *z != 0) {
        let _ = write!(s, "zone={z} ");
    }
    if let Some(start) = c.timestamp().and_then(|t| t.start) {
        let stop = c.timestamp().and_then(|t| t.stop).filter(|t| *t != 0);
        // Whole seconds of each end, subtracted (as conntrack-tools counts them).
        let secs = |ns: u64| ns / 1_000_000_000;
        let delta = secs(stop.unwrap_or(now_ns)).saturating_sub(secs(start));
        let _ = write!(s, "delta-time={delta} ");
        if o.ktimestamp {
            let _ = write!(s, "[start={}] ", ctime(secs(start)));
            if let Some(stop) = stop {
                let _ = write!(s, "[stop={}] ", ctime(secs(stop)));
            }
        }
    }
    if let Some(h) = c.ext().helper.as_ref().and_then(|h| h.name.as_deref()) {
        let _ = write!(s, "helper={h} ");
    }
    if let Some(u) = c.use_count {
        let _ = write!(s, "use={u} ");
    }
    if o.id {
        if let Some(id) = c.id {
            let _ = write!(s, "id={id} ");
        }
    }
    if o.labels {
        if let Some(l) = &c.labels() {
            let names = crate::labelmap::names(LabelsView::new(l).iter());
            if !names.is_empty() {
                let _ = write!(s, "labels={} ", names.join(","));
            }
        }
    }
    trim_end_from(s, start);
}

/// A time in seconds since the epoch as C's `ctime` writes it, in the local time zone
/// (`TZ`, else `/etc/localtime`), without its newline: `Thu Dec  3 10:22:28 2026`.
fn ctime(secs: u64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(i64::try_from(secs).unwrap_or(i64::MAX), 0) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format("%a %b %e %H:%M:%S %Y").to_string()
        }
        chrono::LocalResult::None => secs.to_string(),
    }
}

/// One entry as `conntrack -L` prints it, for one-off lines (hot loops reuse a buffer with
/// [`write_line`]).
pub fn line(c: &Conn, family: u8, o: Options, now_ns: u64) -> String {
    let mut s = String::with_capacity(256);
    write_line(&mut s, c, family, o, now_ns);
    s
}

/// One expectation as `conntrack -L expect` prints it.
pub fn exp_line(x: &Exp, o: Options) -> String {
    let mut s = String::with_capacity(256);
    write_exp_line(&mut s, x, o);
    s
}

/// Removes the trailing blanks of what was appended to `s` from `start` on.
fn trim_end_from(s: &mut String, start: usize) {
    let keep = s[start..].trim_end().len();
    s.truncate(start + keep);
}

/// Appends an event to `s` as `conntrack -E` prints it: `[NEW] ...`, `[UPDATE] ...`,
/// `[DESTROY] ...`, with every field the kernel sent (a DESTROY of an entry deleted from user
/// space carries its remaining timeout, and conntrack-tools prints it too).
pub fn write_event_line(
    s: &mut String,
    kind: EventKind,
    c: &Conn,
    family: u8,
    o: Options,
    now_ns: u64,
) {
    let tag = match kind {
        EventKind::New | EventKind::ExpNew => "[NEW]",
        EventKind::Update => "[UPDATE]",
        _ => "[DESTROY]",
    };
    let _ = write!(s, "{tag:>9} ");
    write_line(s, c, family, o, now_ns);
}

/// Appends an expectation to `s` as `conntrack -L expect` prints it (no newline).
pub fn write_exp_line(s: &mut String, x: &Exp, o: Options) {
    let start = s.len();
    if let Some(t) = x.timeout {
        let _ = write!(s, "{t} ");
    }
    let t = x.tuple.unwrap_or_default();
    let _ = write!(s, "proto={} ", t.proto.num.unwrap_or(0));
    tuple(s, &t);
    for (prefix, t) in [("mask", &x.mask), ("master", &x.master)] {
        if let Some(t) = t {
            prefixed_tuple(s, prefix, t);
        }
    }
    if let Some(f) = x.flags {
        if f & NF_CT_EXPECT_PERMANENT != 0 {
            s.push_str("PERMANENT ");
        }
        if f & NF_CT_EXPECT_INACTIVE != 0 {
            s.push_str("INACTIVE ");
        }
        if f & NF_CT_EXPECT_USERSPACE != 0 {
            s.push_str("USERSPACE ");
        }
    }
    if let Some(c) = x.class {
        let _ = write!(s, "class={c} ");
    }
    if let Some(h) = &x.helper_name {
        let _ = write!(s, "helper={h} ");
    }
    if o.id {
        if let Some(id) = x.id {
            let _ = write!(s, "id={id} ");
        }
    }
    trim_end_from(s, start);
}

/// One JSON line: the event kind (for events), the family and protocol names, then the
/// entry's fields as the library serialises them (see `docs/ctrack-json.md`).
#[derive(serde::Serialize)]
struct JsonConn<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    family: &'static str,
    protocol: &'static str,
    #[serde(flatten)]
    conn: &'a Conn,
}

/// One JSON line of an expectation.
#[derive(serde::Serialize)]
struct JsonExp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(flatten)]
    exp: &'a Exp,
}

fn event_name(k: EventKind) -> &'static str {
    match k {
        EventKind::New | EventKind::ExpNew => "NEW",
        EventKind::Update => "UPDATE",
        _ => "DESTROY",
    }
}

/// Writes one entry as a JSON object (no newline) with every field the kernel sent.
pub fn write_json(
    out: &mut impl std::io::Write,
    c: &Conn,
    family: u8,
    event: Option<EventKind>,
) -> std::io::Result<()> {
    let line = JsonConn {
        event: event.map(event_name),
        family: l3_name(family),
        protocol: l4_name(c.tuple_orig.and_then(|t| t.proto.num).unwrap_or(0)),
        conn: c,
    };
    serde_json::to_writer(out, &line).map_err(std::io::Error::from)
}

/// Writes one expectation as a JSON object (no newline).
pub fn write_exp_json(
    out: &mut impl std::io::Write,
    x: &Exp,
    event: Option<EventKind>,
) -> std::io::Result<()> {
    let line = JsonExp {
        event: event.map(event_name),
        exp: x,
    };
    serde_json::to_writer(out, &line).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_conntrack_tools() {
        let mut c = Conn::tcp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())
            .with_tcp_state(TcpState::Established)
            .with_timeout(99)
            .with_mark(5)
            .with_zone(3)
            .with_status(Status::ASSURED | Status::SEEN_REPLY);
        c.use_count = Some(1);
        let mut text = String::new();
        write_line(&mut text, &c, AF_INET, Options::default(), 0);
        assert_eq!(
            text,
            "tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=5 zone=3 use=1"
        );
        let mut j = Vec::new();
        write_json(&mut j, &c, AF_INET, None).unwrap();
        let j = String::from_utf8(j).unwrap();
        assert!(
            j.starts_with("{\"family\":\"ipv4\",\"protocol\":\"tcp\""),
            "{j}"
        );
        assert!(j.contains("\"mark\":5"), "{j}");
        assert!(
            j.contains("\"status\":[\"SEEN_REPLY\",\"ASSURED\",\"CONFIRMED\"]"),
            "{j}"
        );
    }
}
