//! conntrack-tools' text format (`conntrack -L`, `-E`) and a JSON form, for owned entries.
//!
//! The text form reproduces libnetfilter_conntrack's default output field by field, so that
//! scripts written against `conntrack -L` keep working; the JSON form has one object per entry
//! with stable field names.

use crate::events::EventKind;
use conntrack_wire::consts::*;
use conntrack_wire::ct::{LabelsView, SctpState, Status, TcpState, Tuple};
use conntrack_wire::{Conn, Exp};
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
}

fn l3_name(af: u8) -> &'static str {
    match af {
        AF_INET => "ipv4",
        AF_INET6 => "ipv6",
        _ => "unknown",
    }
}

fn l4_name(p: u8) -> &'static str {
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
    let p = &t.proto;
    if let (Some(s), Some(d)) = (p.src_port, p.dst_port) {
        let _ = write!(out, "sport={s} dport={d} ");
    }
    let icmp = (
        p.icmp_type.or(p.icmpv6_type),
        p.icmp_code.or(p.icmpv6_code),
        p.icmp_id.or(p.icmpv6_id),
    );
    if let (Some(ty), Some(code), Some(id)) = icmp {
        let _ = write!(out, "type={ty} code={code} id={id} ");
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
    tuple(
        out,
        &Tuple {
            src: None,
            dst: None,
            ..*t
        },
    );
}

/// Returns the labels set in a bitmap, named `labelN`.
///
/// ```
/// use conntrack::{format, Conn};
/// assert_eq!(format::label_names(&[0b10, 0, 0, 0]), ["label1"]);
/// # Ok::<(), conntrack::Error>(())
/// ```
pub fn label_names(bits: &[u8]) -> Vec<String> {
    LabelsView::new(bits)
        .iter()
        .map(|n| format!("label{n}"))
        .collect()
}

/// Formats one entry as `conntrack -L` prints it. `now_ns` is used for `delta-time`.
///
/// ```
/// use conntrack::{format, Conn};
/// let c = Conn::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:53".parse().unwrap()).with_timeout(30);
/// let text = format::line(&c, 2, format::Options::default(), 0);
/// assert!(text.starts_with("udp      17 30 src=10.0.0.1"));
/// # Ok::<(), conntrack::Error>(())
/// ```
pub fn line(c: &Conn, family: u8, o: Options, now_ns: u64) -> String {
    let mut s = String::with_capacity(256);
    let orig = c.tuple_orig.unwrap_or_default();
    let proto = orig.proto.num.unwrap_or(0);
    if o.extended {
        let _ = write!(s, "{:<8} {} ", l3_name(family), family);
    }
    let _ = write!(s, "{:<8} {} ", l4_name(proto), proto);
    if let Some(t) = c.timeout {
        let _ = write!(s, "{t} ");
    }
    let pi = c.protoinfo.unwrap_or_default();
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
                let _ = write!(s, "{} ", conntrack_wire::ct::DccpState::from(st).name());
            }
        }
        _ => {}
    }
    let status = c.status.unwrap_or_default();
    tuple(&mut s, &orig);
    if let Some(z) = orig.zone {
        let _ = write!(s, "zone-orig={z} ");
    }
    if let Some(k) = c.counters_orig {
        let _ = write!(
            s,
            "packets={} bytes={} ",
            k.packet_count().unwrap_or(0),
            k.byte_count().unwrap_or(0)
        );
    }
    if c.status.is_some() && !status.contains(Status::SEEN_REPLY) {
        s.push_str("[UNREPLIED] ");
    }
    if let Some(r) = &c.tuple_reply {
        tuple(&mut s, r);
        if let Some(z) = r.zone {
            let _ = write!(s, "zone-reply={z} ");
        }
    }
    if let Some(k) = c.counters_reply {
        let _ = write!(
            s,
            "packets={} bytes={} ",
            k.packet_count().unwrap_or(0),
            k.byte_count().unwrap_or(0)
        );
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
    if let Some(m) = c.secmark.filter(|m| *m != 0) {
        let _ = write!(s, "secmark={m} ");
    }
    if let Some(x) = &c.secctx {
        let _ = write!(s, "secctx={x} ");
    }
    if let Some(z) = c.zone.filter(|z| *z != 0) {
        let _ = write!(s, "zone={z} ");
    }
    if let Some(start) = c.timestamp.and_then(|t| t.start) {
        let end = c.timestamp.and_then(|t| t.stop).unwrap_or(now_ns);
        let _ = write!(
            s,
            "delta-time={} ",
            end.saturating_sub(start) / 1_000_000_000
        );
    }
    if let Some(h) = c.helper.as_ref().and_then(|h| h.name.as_deref()) {
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
        if let Some(l) = &c.labels {
            let names = label_names(l);
            if !names.is_empty() {
                let _ = write!(s, "labels={} ", names.join(","));
            }
        }
    }
    s.truncate(s.trim_end().len());
    s
}

/// Formats an event as `conntrack -E` prints it: `[NEW] ...`, `[UPDATE] ...`, `[DESTROY] ...`.
///
/// ```
/// use conntrack::{format, Conn};
/// let c = Conn::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
/// let text = format::event_line(conntrack::events::EventKind::New, &c, 2, format::Options::default(), 0);
/// assert!(text.starts_with("    [NEW] udp"));
/// # Ok::<(), conntrack::Error>(())
/// ```
pub fn event_line(kind: EventKind, c: &Conn, family: u8, o: Options, now_ns: u64) -> String {
    let tag = match kind {
        EventKind::New => "[NEW]",
        EventKind::Update => "[UPDATE]",
        EventKind::Destroy => "[DESTROY]",
        EventKind::ExpNew => "[NEW]",
        EventKind::ExpDestroy => "[DESTROY]",
    };
    let mut body = line(c, family, o, now_ns);
    if kind == EventKind::Destroy {
        // conntrack -E does not print the (meaningless) timeout of a destroyed entry
        body = line(
            &Conn {
                timeout: None,
                ..c.clone()
            },
            family,
            o,
            now_ns,
        );
    }
    format!("{tag:>9} {body}")
}

/// Formats an expectation as `conntrack -L expect` prints it.
///
/// ```
/// use conntrack::{format, Conn};
/// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
/// let x = conntrack::Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
/// assert!(format::exp_line(&x, format::Options::default()).starts_with("60 proto=6"));
/// # Ok::<(), conntrack::Error>(())
/// ```
pub fn exp_line(x: &Exp, o: Options) -> String {
    let mut s = String::new();
    if let Some(t) = x.timeout {
        let _ = write!(s, "{t} ");
    }
    let t = x.tuple.unwrap_or_default();
    let _ = write!(s, "proto={} ", t.proto.num.unwrap_or(0));
    tuple(&mut s, &t);
    for (prefix, t) in [("mask", &x.mask), ("master", &x.master)] {
        if let Some(t) = t {
            prefixed_tuple(&mut s, prefix, t);
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
    s.truncate(s.trim_end().len());
    s
}

/// A tiny JSON writer: one object, keys in insertion order.
#[derive(Debug, Default)]
pub struct JsonObject {
    s: String,
}

impl JsonObject {
    /// Starts an object.
    pub fn new() -> Self {
        JsonObject {
            s: String::from("{"),
        }
    }

    fn key(&mut self, k: &str) {
        if self.s.len() > 1 {
            self.s.push(',');
        }
        self.s.push('"');
        self.s.push_str(k);
        self.s.push_str("\":");
    }

    /// Adds a number.
    pub fn num(&mut self, k: &str, v: impl std::fmt::Display) -> &mut Self {
        self.key(k);
        let _ = write!(self.s, "{v}");
        self
    }

    /// Adds a string (escaped).
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.s.push('"');
        for ch in v.chars() {
            match ch {
                '"' => self.s.push_str("\\\""),
                '\\' => self.s.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.s, "\\u{:04x}", c as u32);
                }
                c => self.s.push(c),
            }
        }
        self.s.push('"');
        self
    }

    /// Adds a boolean.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.s.push_str(if v { "true" } else { "false" });
        self
    }

    /// Adds a raw JSON value.
    pub fn raw(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.s.push_str(v);
        self
    }

    /// Closes the object.
    pub fn finish(&mut self) -> String {
        let mut s = std::mem::take(&mut self.s);
        s.push('}');
        s
    }
}

fn tuple_json(t: &Tuple) -> String {
    let mut o = JsonObject::new();
    if let Some(a) = t.src {
        o.str("src", &a.to_string());
    }
    if let Some(a) = t.dst {
        o.str("dst", &a.to_string());
    }
    let p = &t.proto;
    if let Some(v) = p.num {
        o.num("proto", v);
    }
    for (k, v) in [
        ("sport", p.src_port),
        ("dport", p.dst_port),
        ("icmp_id", p.icmp_id.or(p.icmpv6_id)),
    ] {
        if let Some(v) = v {
            o.num(k, v);
        }
    }
    for (k, v) in [
        ("icmp_type", p.icmp_type.or(p.icmpv6_type)),
        ("icmp_code", p.icmp_code.or(p.icmpv6_code)),
    ] {
        if let Some(v) = v {
            o.num(k, v);
        }
    }
    if let Some(z) = t.zone {
        o.num("zone", z);
    }
    o.finish()
}

/// Formats one entry as a JSON object with every field the kernel sent.
///
/// ```
/// use conntrack::{format, Conn};
/// let c = Conn::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
/// assert!(format::json(&c, 2, None).contains("\"protocol\":\"udp\""));
/// # Ok::<(), conntrack::Error>(())
/// ```
pub fn json(c: &Conn, family: u8, event: Option<EventKind>) -> String {
    let mut o = JsonObject::new();
    if let Some(k) = event {
        o.str("event", &format!("{k:?}").to_uppercase());
    }
    o.str("family", l3_name(family));
    let proto = c.tuple_orig.and_then(|t| t.proto.num).unwrap_or(0);
    o.str("protocol", l4_name(proto));
    if let Some(id) = c.id {
        o.num("id", id);
    }
    if let Some(t) = &c.tuple_orig {
        o.raw("orig", &tuple_json(t));
    }
    if let Some(t) = &c.tuple_reply {
        o.raw("reply", &tuple_json(t));
    }
    if let Some(t) = &c.tuple_master {
        o.raw("master", &tuple_json(t));
    }
    if let Some(t) = c.timeout {
        o.num("timeout", t);
    }
    if let Some(s) = c.status {
        o.num("status", s.bits());
        let names: Vec<String> = s.names().map(|n| format!("\"{n}\"")).collect();
        o.raw("status_flags", &format!("[{}]", names.join(",")));
    }
    let pi = c.protoinfo.unwrap_or_default();
    if let Some(st) = pi.tcp.and_then(|t| t.state) {
        o.str("state", TcpState::from(st).name());
    } else if let Some(st) = pi.sctp.and_then(|t| t.state) {
        o.str("state", SctpState::from(st).name());
    }
    if let Some(m) = c.mark {
        o.num("mark", m);
    }
    if let Some(z) = c.zone {
        o.num("zone", z);
    }
    if let Some(u) = c.use_count {
        o.num("use", u);
    }
    for (k, v) in [("orig", c.counters_orig), ("reply", c.counters_reply)] {
        if let Some(v) = v {
            o.num(&format!("{k}_packets"), v.packet_count().unwrap_or(0));
            o.num(&format!("{k}_bytes"), v.byte_count().unwrap_or(0));
        }
    }
    if let Some(ts) = c.timestamp {
        if let Some(v) = ts.start {
            o.num("start_ns", v);
        }
        if let Some(v) = ts.stop {
            o.num("stop_ns", v);
        }
    }
    if let Some(v) = c.timestamp_event {
        o.num("event_ns", v);
    }
    if let Some(h) = c.helper.as_ref().and_then(|h| h.name.as_deref()) {
        o.str("helper", h);
    }
    if let Some(l) = &c.labels {
        let v: Vec<String> = LabelsView::new(l).iter().map(|n| n.to_string()).collect();
        o.raw("labels", &format!("[{}]", v.join(",")));
    }
    if let Some(s) = &c.secctx {
        o.str("secctx", s);
    }
    if let Some(s) = c.secmark {
        o.num("secmark", s);
    }
    o.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use conntrack_wire::ct::TcpState;

    #[test]
    fn formats_like_conntrack_tools() {
        let mut c = Conn::tcp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())
            .with_tcp_state(TcpState::Established)
            .with_timeout(99)
            .with_mark(5)
            .with_zone(3)
            .with_status(Status::ASSURED | Status::SEEN_REPLY);
        c.use_count = Some(1);
        assert_eq!(
            line(&c, AF_INET, Options::default(), 0),
            "tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=5 zone=3 use=1"
        );
        let j = json(&c, AF_INET, None);
        assert!(j.starts_with("{\"family\":\"ipv4\",\"protocol\":\"tcp\""));
        assert!(j.contains("\"mark\":5"));
    }
}
