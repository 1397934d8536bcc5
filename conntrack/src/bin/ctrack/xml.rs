//! `-o xml`: entries as libnetfilter_conntrack's XML printer writes them (one `<flow>` per
//! line), between the header and footer that conntrack-tools prints around a listing or an
//! event stream. Field for field, including its quirks: SCTP and DCCP states are named from
//! the TCP state table, the reply direction's counters appear only when the original
//! direction's do, and the ICMP fields are not printed.

use crate::format::{Options, l3_name, l4_name};
use conntrack::events::EventKind;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{LabelsView, Status, TcpState, Tuple};
use conntrack::{Conn, Exp};
use std::fmt::Write;

/// What conntrack-tools prints before the first entry.
pub const HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n";
/// What it prints after the last, when it printed any.
pub const FOOTER: &str = "</conntrack>\n";
/// The header of expectations.
pub const EXP_HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<expect>\n";
/// The footer of expectations.
pub const EXP_FOOTER: &str = "</expect>\n";

/// Appends one entry as a `<flow>` element (no newline); `kind` for an event. `now_ns` is
/// the time that an entry without a stop time is measured to.
pub fn write_flow(s: &mut String, c: &Conn, kind: Option<EventKind>, o: Options, now_ns: u64) {
    match kind {
        Some(EventKind::New) => s.push_str("<flow type=\"new\">"),
        Some(EventKind::Update) => s.push_str("<flow type=\"update\">"),
        Some(_) => s.push_str("<flow type=\"destroy\">"),
        None => s.push_str("<flow>"),
    }
    let family = c.family().unwrap_or(0);
    let counted = c.counters_orig().is_some();
    let orig = c.tuple_orig.unwrap_or_default();
    let reply = c.tuple_reply.unwrap_or_default();
    // Both directions' counters are printed when the original direction's are there.
    let orig_counters = counted.then(|| c.counters_orig().unwrap_or_default());
    let reply_counters = counted.then(|| c.counters_reply().unwrap_or_default());
    direction(s, "original", &orig, family, orig_counters);
    direction(s, "reply", &reply, family, reply_counters);
    independent(s, c, o, now_ns);
    if o.timestamp && kind.is_some() {
        when(s, now_ns);
    }
    if let Some(h) = c.ext().helper.as_ref().and_then(|h| h.name.as_deref()) {
        let _ = write!(s, "<helper>{}</helper>", escape(h));
    }
    s.push_str("</flow>");
}

/// Appends one expectation as a `<flow>` element (no newline); `kind` for an event (the
/// expectation event kinds; `None` for a listing).
pub fn write_exp(s: &mut String, x: &Exp, kind: Option<EventKind>, o: Options, now_ns: u64) {
    match kind {
        Some(EventKind::ExpNew) => s.push_str("<flow type=\"new\">"),
        Some(_) => s.push_str("<flow type=\"destroy\">"),
        None => s.push_str("<flow>"),
    }
    let parts = [
        ("expected", x.tuple.unwrap_or_default()),
        ("mask", x.mask.unwrap_or_default()),
        ("master", x.master.unwrap_or_default()),
    ];
    let expected = parts[0].1;
    let family = expected.family().unwrap_or(0);
    let _ = write!(
        s,
        "<layer3 protonum=\"{family}\" protoname=\"{}\">",
        l3_name(family)
    );
    for (tag, t) in &parts {
        let _ = write!(s, "<{tag}>");
        addrs(s, t);
        let _ = write!(s, "</{tag}>");
    }
    let proto = expected.proto.num.unwrap_or(0);
    let _ = write!(
        s,
        "</layer3><layer4 protonum=\"{proto}\" protoname=\"{}\">",
        l4_name(proto)
    );
    for (tag, t) in &parts {
        let _ = write!(s, "<{tag}>");
        // libnetfilter_conntrack names every part's ports by the expected tuple's protocol.
        ports(s, proto, t);
        let _ = write!(s, "</{tag}>");
    }
    s.push_str("</layer4><meta>");
    if let Some(h) = &x.helper_name {
        let _ = write!(s, "<helper-name>{}</helper-name>", escape(h));
    }
    if let Some(t) = x.timeout {
        let _ = write!(s, "<timeout>{t}</timeout>");
    }
    if let Some(c) = x.class {
        let _ = write!(s, "<class>{c}</class>");
    }
    if let Some(z) = x.zone {
        let _ = write!(s, "<zone>{z}</zone>");
    }
    if o.timestamp && kind.is_some() {
        when(s, now_ns);
    }
    let flags = x.flags.unwrap_or(0);
    for (bit, tag) in [(1, "<permanent/>"), (2, "<inactive/>"), (4, "<userspace/>")] {
        if flags & bit != 0 {
            s.push_str(tag);
        }
    }
    s.push_str("</meta></flow>");
}

/// A tuple's addresses, as `<src>`/`<dst>`.
fn addrs(s: &mut String, t: &Tuple) {
    s.push_str("<src>");
    if let Some(a) = t.src {
        let _ = write!(s, "{a}");
    }
    s.push_str("</src><dst>");
    if let Some(a) = t.dst {
        let _ = write!(s, "{a}");
    }
    s.push_str("</dst>");
}

/// The ports (or GRE keys) of a tuple of protocol `proto`, as `<sport>`/`<dport>`.
fn ports(s: &mut String, proto: u8, t: &Tuple) {
    let (sport, dport) = (t.proto.src_port.unwrap_or(0), t.proto.dst_port.unwrap_or(0));
    match proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_UDPLITE | IPPROTO_SCTP | IPPROTO_DCCP => {
            let _ = write!(s, "<sport>{sport}</sport><dport>{dport}</dport>");
        }
        IPPROTO_GRE => {
            let _ = write!(
                s,
                "<srckey>0x{sport:x}</srckey><dstkey>0x{dport:x}</dstkey>"
            );
        }
        _ => {}
    }
}

/// One direction's `<meta>`: addresses, ports (or GRE keys), its zone, its counters.
fn direction(
    s: &mut String,
    dir: &str,
    t: &Tuple,
    family: u8,
    counters: Option<conntrack::wire::ct::Counters>,
) {
    let proto = t.proto.num.unwrap_or(0);
    let _ = write!(
        s,
        "<meta direction=\"{dir}\"><layer3 protonum=\"{family}\" protoname=\"{}\">",
        l3_name(family)
    );
    addrs(s, t);
    let _ = write!(
        s,
        "</layer3><layer4 protonum=\"{proto}\" protoname=\"{}\">",
        l4_name(proto)
    );
    ports(s, proto, t);
    s.push_str("</layer4>");
    if let Some(z) = t.zone {
        let _ = write!(s, "<zone>{z}</zone>");
    }
    if let Some(k) = counters {
        let _ = write!(
            s,
            "<counters><packets>{}</packets><bytes>{}</bytes></counters>",
            k.packets, k.bytes
        );
    }
    s.push_str("</meta>");
}

/// The `<meta direction="independent">` part: state, timeout, mark, labels, security,
/// zone, use, id, flags and times, each when the entry has it.
fn independent(s: &mut String, c: &Conn, o: Options, now_ns: u64) {
    let x = c.ext();
    let pi = c.protoinfo().unwrap_or_default();
    let state = pi
        .tcp
        .and_then(|t| t.state)
        .or(pi.sctp.and_then(|t| t.state))
        .or(pi.dccp.and_then(|t| t.state));
    let times = c
        .timestamp()
        .filter(|t| t.start.is_some() || t.stop.is_some());
    let any = state.is_some()
        || c.timeout.is_some()
        || c.mark.is_some()
        || x.secmark.is_some()
        || c.zone.is_some()
        || c.use_count.is_some()
        || c.status.is_some()
        || c.id.is_some()
        || c.labels().is_some()
        || times.is_some();
    if !any {
        return;
    }
    s.push_str("<meta direction=\"independent\">");
    if let Some(st) = state {
        // libnetfilter_conntrack names every protocol's state from the TCP table.
        let name = if st < 10 {
            TcpState::from(st).name()
        } else {
            "NONE"
        };
        let _ = write!(s, "<state>{name}</state>");
    }
    if let Some(t) = c.timeout {
        let _ = write!(s, "<timeout>{t}</timeout>");
    }
    if let Some(m) = c.mark {
        let _ = write!(s, "<mark>{m}</mark>");
    }
    if let Some(l) = c.labels().as_ref().filter(|_| o.labels) {
        s.push_str("<labels>");
        for name in crate::labelmap::names(LabelsView::new(l).iter()) {
            let _ = write!(s, "<label>{}</label>", escape(&name));
        }
        s.push_str("</labels>");
    }
    if let Some(m) = x.secmark {
        let _ = write!(s, "<secmark>{m}</secmark>");
    }
    if let Some(ctx) = &x.secctx {
        let _ = write!(s, "<secctx>{}</secctx>", escape(ctx));
    }
    if let Some(z) = c.zone {
        let _ = write!(s, "<zone>{z}</zone>");
    }
    if let Some(u) = c.use_count {
        let _ = write!(s, "<use>{u}</use>");
    }
    if let Some(id) = c.id {
        let _ = write!(s, "<id>{id}</id>");
    }
    if let Some(st) = c.status {
        if st.contains(Status::ASSURED) {
            s.push_str("<assured/>");
        }
        if !st.contains(Status::SEEN_REPLY) {
            s.push_str("<unreplied/>");
        }
    }
    times_xml(s, times, o, now_ns);
    s.push_str("</meta>");
}

/// `<timestamp>` (with `-o ktimestamp`) and `<deltatime>`.
fn times_xml(
    s: &mut String,
    times: Option<conntrack::wire::ct::Timestamp>,
    o: Options,
    now_ns: u64,
) {
    let Some(t) = times else { return };
    if o.ktimestamp {
        s.push_str("<timestamp>");
        if let Some(v) = t.start {
            let _ = write!(s, "<start>{v}</start>");
        }
        if let Some(v) = t.stop {
            let _ = write!(s, "<stop>{v}</stop>");
        }
        s.push_str("</timestamp>");
    }
    const NS: u64 = 1_000_000_000;
    match (t.start, t.stop) {
        // With both ends: the difference, in whole seconds.
        (Some(a), Some(b)) => {
            let _ = write!(s, "<deltatime>{}</deltatime>", b.wrapping_sub(a) / NS);
        }
        // Still running: whole seconds now, minus whole seconds at the start.
        (Some(a), None) => {
            let _ = write!(
                s,
                "<deltatime>{}</deltatime>",
                (now_ns / NS).saturating_sub(a / NS)
            );
        }
        _ => {}
    }
}

/// `<when>`: the local time of printing (events with `-o timestamp`).
fn when(s: &mut String, now_ns: u64) {
    use chrono::{Datelike, TimeZone, Timelike};
    let secs = i64::try_from(now_ns / 1_000_000_000).unwrap_or(0);
    let Some(t) = chrono::Local.timestamp_opt(secs, 0).earliest() else {
        return;
    };
    let _ = write!(
        s,
        "<when><hour>{}</hour><min>{:02}</min><sec>{:02}</sec><wday>{}</wday><day>{}</day>\
         <month>{}</month><year>{}</year></when>",
        t.hour(),
        t.minute(),
        t.second(),
        t.weekday().num_days_from_sunday() + 1,
        t.day(),
        t.month(),
        t.year()
    );
}

/// Text as it may stand in XML. libnetfilter_conntrack writes names unescaped; the names
/// the kernel allows (helpers, security contexts, label names) never hold these characters
/// in practice, and where one does, this output stays well-formed.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['<', '>', '&', '"']) {
        return text.into();
    }
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .into()
}
