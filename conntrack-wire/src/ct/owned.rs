//! The owned conntrack entry (feature `alloc`).

use super::ext::Ext;
use super::packed::Packed;
use super::*;
use crate::consts::*;
use crate::emit::Emitter;
use crate::filter::Filter;
use alloc::vec::Vec;

/// An owned conntrack entry (feature `alloc`); see [`ConnView`].
///
/// The attributes that nearly every entry carries are fields: both tuples, status, timeout,
/// mark, use count, id and zone. Counters, TCP state, labels and timestamps are inline too,
/// packed, behind accessors ([`Conn::counters_orig`], [`Conn::protoinfo`], [`Conn::labels`],
/// [`Conn::timestamp`] and their setters). Everything rarer (NAT ranges, helper, the master
/// tuple, ..., and the attributes this version does not know, so that nothing the kernel
/// sent is lost) is in a [`ConnExt`] out of line, allocated only by an entry that has one:
/// [`Conn::ext`] reads it and [`Conn::ext_mut`] sets it. An entry is 256 bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Conn {
    /// `CTA_TUPLE_ORIG`.
    pub tuple_orig: Option<Tuple>,
    /// `CTA_TUPLE_REPLY`.
    pub tuple_reply: Option<Tuple>,
    /// `CTA_STATUS`.
    pub status: Option<Status>,
    /// `CTA_TIMEOUT`, seconds.
    pub timeout: Option<u32>,
    /// `CTA_MARK`.
    pub mark: Option<u32>,
    /// `CTA_USE`.
    pub use_count: Option<u32>,
    /// `CTA_ID`.
    pub id: Option<u32>,
    /// `CTA_ZONE`.
    pub zone: Option<u16>,
    /// Counters, timestamps, labels, and `CTA_PROTOINFO` when it is TCP state alone
    /// (otherwise the nest is in `ext`).
    packed: Packed,
    /// The rare attributes.
    ext: Ext,
}

impl core::fmt::Debug for Conn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conn")
            .field("tuple_orig", &self.tuple_orig)
            .field("tuple_reply", &self.tuple_reply)
            .field("status", &self.status)
            .field("protoinfo", &self.protoinfo())
            .field("timeout", &self.timeout)
            .field("mark", &self.mark)
            .field("counters_orig", &self.counters_orig())
            .field("counters_reply", &self.counters_reply())
            .field("use_count", &self.use_count)
            .field("id", &self.id)
            .field("zone", &self.zone)
            .field("timestamp", &self.timestamp())
            .field("timestamp_event", &self.timestamp_event())
            .field("labels", &self.labels())
            .field("synproxy", &self.synproxy())
            .field("ext", &self.ext)
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Conn {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Conn {{ orig: {}, reply: {}, id: {}, mark: {}, zone: {}, status: {} }}",
            self.tuple_orig,
            self.tuple_reply,
            self.id,
            self.mark,
            self.zone,
            self.status
        )
    }
}

impl Conn {
    /// Returns the key that names this entry for get and delete: its original tuple (with
    /// a per-direction zone if it has one), its zone and its id (so that a delete never
    /// hits a newer entry that reuses the tuple), or `None` without an original tuple.
    #[inline]
    pub fn key(&self) -> Option<crate::request::Key> {
        Some(crate::request::Key {
            tuple: self.tuple_orig?,
            dir: crate::request::Dir::Orig,
            zone: self.zone,
            id: self.id,
        })
    }

    /// Copies every attribute out of a view. The common entry allocates nothing; one with a
    /// rare attribute allocates its [`ConnExt`].
    #[inline]
    pub fn parse(v: &ConnView<'_>) -> Self {
        let protoinfo = v.protoinfo().map(|p| ProtoInfo::parse(&p));
        let mut c = Conn {
            tuple_orig: v.tuple_orig().map(|t| Tuple::parse(&t)),
            tuple_reply: v.tuple_reply().map(|t| Tuple::parse(&t)),
            status: v.status(),
            timeout: v.timeout(),
            mark: v.mark(),
            use_count: v.use_count(),
            id: v.id(),
            zone: v.zone(),
            packed: Packed::default(),
            ext: Ext::default(),
        };
        let labels = v.labels().map(|l| Labels::from_bytes(l.bytes()).ok_or(l));
        c.set_counters_orig(v.counters_orig().map(|c| Counters::parse(&c)));
        c.set_counters_reply(v.counters_reply().map(|c| Counters::parse(&c)));
        c.set_timestamp(v.timestamp().map(|t| Timestamp::parse(&t)));
        c.set_labels(labels.and_then(Result::ok));
        let long_labels = labels.and_then(Result::err);
        let synproxy = v.synproxy().map(|s| Synproxy::parse(&s));
        let zero = synproxy.is_some_and(|s| s == SYNPROXY_ZERO);
        c.packed.set_synproxy_zero(zero);
        if ConnExt::KINDS.iter().any(|&k| v.has(k))
            || v.unknown().next().is_some()
            || long_labels.is_some()
            || (synproxy.is_some() && !zero)
        {
            c.ext = Ext::new(parse_ext(v, long_labels));
            c.ext.get_mut().synproxy = synproxy.filter(|_| !zero);
        }
        // After the extension is made: a DESTROY event's time goes into it.
        c.set_timestamp_event(v.timestamp_event());
        c.set_protoinfo(protoinfo);
        c
    }

    /// Returns the rare attributes (an empty set when the entry has none).
    #[inline]
    pub fn ext(&self) -> &ConnExt {
        self.ext.get()
    }

    /// Returns the rare attributes to set, allocating them on first use.
    #[inline]
    pub fn ext_mut(&mut self) -> &mut ConnExt {
        self.ext.get_mut()
    }

    /// Returns `CTA_COUNTERS_ORIG`.
    #[inline]
    pub fn counters_orig(&self) -> Option<Counters> {
        self.packed.counters(false)
    }

    /// Returns `CTA_COUNTERS_REPLY`.
    #[inline]
    pub fn counters_reply(&self) -> Option<Counters> {
        self.packed.counters(true)
    }

    /// Sets (or with `None` removes) `CTA_COUNTERS_ORIG`.
    #[inline]
    pub fn set_counters_orig(&mut self, c: Option<Counters>) {
        self.packed.set_counters(false, c)
    }

    /// Sets (or with `None` removes) `CTA_COUNTERS_REPLY`.
    #[inline]
    pub fn set_counters_reply(&mut self, c: Option<Counters>) {
        self.packed.set_counters(true, c)
    }

    /// Returns `CTA_TIMESTAMP`: the entry's start (and, once it ended, stop) time.
    #[inline]
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.packed.timestamp()
    }

    /// Sets (or with `None` removes) `CTA_TIMESTAMP`.
    #[inline]
    pub fn set_timestamp(&mut self, t: Option<Timestamp>) {
        let event = self.timestamp_event();
        self.set_timestamp_event(None);
        self.packed.set_timestamp(t);
        self.set_timestamp_event(event);
    }

    /// Returns `CTA_TIMESTAMP_EVENT`: when the kernel sent the event, ns.
    #[inline]
    pub fn timestamp_event(&self) -> Option<u64> {
        self.packed.event().or(self.ext().timestamp_event)
    }

    /// Sets (or with `None` removes) `CTA_TIMESTAMP_EVENT`. It is inline unless the entry
    /// has a stop time (a DESTROY event), whose place it takes otherwise.
    #[inline]
    pub fn set_timestamp_event(&mut self, e: Option<u64>) {
        self.packed.set_event(None);
        if self.ext.is_allocated() {
            self.ext.get_mut().timestamp_event = None;
        }
        if e.is_some() && !self.packed.set_event(e) {
            self.ext_mut().timestamp_event = e;
        }
    }

    /// Returns `CTA_LABELS`, the label bitmap.
    #[inline]
    pub fn labels(&self) -> Option<Labels> {
        self.packed.labels()
    }

    /// Sets (or with `None` removes) `CTA_LABELS`.
    #[inline]
    pub fn set_labels(&mut self, l: Option<Labels>) {
        self.packed.set_labels(l)
    }

    /// Returns `CTA_SYNPROXY`.
    #[inline]
    pub fn synproxy(&self) -> Option<Synproxy> {
        if self.packed.synproxy_zero() {
            return Some(SYNPROXY_ZERO);
        }
        self.ext().synproxy
    }

    /// Sets (or with `None` removes) `CTA_SYNPROXY`.
    #[inline]
    pub fn set_synproxy(&mut self, s: Option<Synproxy>) {
        let zero = s == Some(SYNPROXY_ZERO);
        self.packed.set_synproxy_zero(zero);
        let rest = s.filter(|_| !zero);
        if rest.is_some() || self.ext.is_allocated() {
            self.ext_mut().synproxy = rest;
        }
    }

    /// Returns `CTA_PROTOINFO`: the TCP, SCTP or DCCP state.
    #[inline]
    pub fn protoinfo(&self) -> Option<ProtoInfo> {
        match self.packed.tcp() {
            Some(tcp) => Some(ProtoInfo {
                tcp: Some(tcp),
                ..ProtoInfo::default()
            }),
            None => self.ext().protoinfo,
        }
    }

    /// Sets (or with `None` removes) `CTA_PROTOINFO`. TCP state alone stays inline; any other
    /// protocol state goes to the extension.
    #[inline]
    pub fn set_protoinfo(&mut self, p: Option<ProtoInfo>) {
        let tcp_alone = p.and_then(|p| p.tcp.filter(|_| p.sctp.is_none() && p.dccp.is_none()));
        self.packed.set_tcp(tcp_alone);
        let rest = p.filter(|_| tcp_alone.is_none());
        if rest.is_some() || self.ext.is_allocated() {
            self.ext_mut().protoinfo = rest;
        }
    }

    /// Overwrites the attributes of `self` that `newer` carries and keeps the rest: how an
    /// update event (which carries only some attributes) applies to a kept entry.
    pub fn merge(&mut self, newer: Conn) {
        macro_rules! take {
            ($from:expr, $to:expr; $($f:ident),*) => {
                $( if $from.$f.is_some() { $to.$f = $from.$f; } )*
            };
        }
        take!(newer, self; tuple_orig, tuple_reply, status, timeout, mark, use_count, id, zone);
        if let Some(p) = newer.protoinfo() {
            self.set_protoinfo(Some(p));
        }
        if let Some(c) = newer.counters_orig() {
            self.set_counters_orig(Some(c));
        }
        if let Some(c) = newer.counters_reply() {
            self.set_counters_reply(Some(c));
        }
        if let Some(t) = newer.timestamp() {
            self.set_timestamp(Some(t));
        }
        if let Some(l) = newer.labels() {
            self.set_labels(Some(l));
        }
        if let Some(s) = newer.synproxy() {
            self.set_synproxy(Some(s));
        }
        if let Some(e) = newer.timestamp_event() {
            self.set_timestamp_event(Some(e));
        }
        if !newer.ext.is_allocated() {
            return;
        }
        let new = *newer.ext.into_inner();
        let old = self.ext_mut();
        take!(new, old; tuple_master, status_mask, helper, nat_src, nat_dst, mark_mask,
            seq_adj_orig, seq_adj_reply, secmark, secctx, labels_mask, filter);
        if !new.unknown.is_empty() {
            old.unknown = new.unknown;
        }
    }

    /// Starts a flow of L4 protocol `proto` (`IPPROTO_TCP`, `IPPROTO_UDP`, `IPPROTO_SCTP`,
    /// ...) from `src` to `dst`: the original tuple, the mirrored reply tuple, and the status
    /// `IPS_CONFIRMED` that the kernel requires on a create.
    ///
    /// ```
    /// use conntrack_wire::Conn;
    /// let c = Conn::flow(6, "10.0.0.1:1234".parse().unwrap(), "10.0.0.2:80".parse().unwrap())
    ///     .with_timeout(120)
    ///     .with_mark(7);
    /// assert_eq!(c.tuple_reply.unwrap().proto.src_port, Some(80));
    /// ```
    #[inline]
    pub fn flow(proto: u8, src: core::net::SocketAddr, dst: core::net::SocketAddr) -> Self {
        let orig = Tuple::flow(proto, src, dst);
        Conn::for_tuple(orig)
            .with_tuple_reply(orig.inverted())
            .with_status(Status::CONFIRMED)
    }

    /// An entry named by its original tuple alone: the start of an update, or of a
    /// create with [`Conn::with_tuple_reply`] and [`Conn::with_status`].
    ///
    /// ```
    /// use conntrack_wire::{Conn, ct::Tuple};
    /// let t = Tuple::flow(17, "10.0.0.1:53".parse().unwrap(), "10.0.0.2:53".parse().unwrap());
    /// let update = Conn::for_tuple(t).with_mark(1);
    /// assert_eq!((update.tuple_reply, update.mark), (None, Some(1)));
    /// ```
    #[inline]
    pub fn for_tuple(orig: Tuple) -> Self {
        Conn {
            tuple_orig: Some(orig),
            ..Default::default()
        }
    }

    /// Sets the reply tuple.
    #[inline]
    pub fn with_tuple_reply(mut self, reply: Tuple) -> Self {
        self.tuple_reply = Some(reply);
        self
    }

    /// Starts a TCP flow; see [`Conn::flow`]. Set the state with [`Conn::with_tcp_state`].
    #[inline]
    pub fn tcp(src: core::net::SocketAddr, dst: core::net::SocketAddr) -> Self {
        Self::flow(IPPROTO_TCP, src, dst)
    }

    /// Starts a UDP flow; see [`Conn::flow`].
    #[inline]
    pub fn udp(src: core::net::SocketAddr, dst: core::net::SocketAddr) -> Self {
        Self::flow(IPPROTO_UDP, src, dst)
    }

    /// Starts an ICMP (IPv4) or ICMPv6 echo flow from `src` to `dst` with identifier `id`:
    /// echo request in the original direction, echo reply in the reply direction.
    #[inline]
    pub fn icmp_echo(src: core::net::IpAddr, dst: core::net::IpAddr, id: u16) -> Self {
        let kind = if src.is_ipv4() { 8 } else { 128 };
        let orig = Tuple::icmp(src, dst, kind, 0, id);
        Conn::for_tuple(orig)
            .with_tuple_reply(orig.inverted())
            .with_status(Status::CONFIRMED)
    }

    /// Sets the timeout in seconds.
    #[inline]
    pub fn with_timeout(mut self, secs: u32) -> Self {
        self.timeout = Some(secs);
        self
    }

    /// Sets the mark.
    #[inline]
    pub fn with_mark(mut self, mark: u32) -> Self {
        self.mark = Some(mark);
        self
    }

    /// Sets the zone (`CTA_ZONE`).
    #[inline]
    pub fn with_zone(mut self, zone: u16) -> Self {
        self.zone = Some(zone);
        self
    }

    /// Adds status bits (`IPS_CONFIRMED` stays set).
    #[inline]
    pub fn with_status(mut self, s: Status) -> Self {
        self.status = Some(self.status.unwrap_or_default() | s);
        self
    }

    /// Sets the TCP state.
    #[inline]
    pub fn with_tcp_state(mut self, state: TcpState) -> Self {
        let mut p = self.protoinfo().unwrap_or_default();
        p.tcp.get_or_insert_with(TcpInfo::default).state = Some(state.into());
        self.set_protoinfo(Some(p));
        self
    }

    /// Sets the SCTP state and verification tags (given in host order, sent big-endian).
    #[inline]
    pub fn with_sctp(mut self, state: SctpState, vtag_original: u32, vtag_reply: u32) -> Self {
        let mut p = self.protoinfo().unwrap_or_default();
        p.sctp = Some(SctpInfo {
            state: Some(state.into()),
            vtag_original: Some(vtag_original),
            vtag_reply: Some(vtag_reply),
        });
        self.set_protoinfo(Some(p));
        self
    }

    /// Sets the DCCP state and the original direction's role (the kernel takes the two only
    /// together).
    #[inline]
    pub fn with_dccp(mut self, state: DccpState, role: DccpRole) -> Self {
        let mut p = self.protoinfo().unwrap_or_default();
        p.dccp = Some(DccpInfo {
            state: Some(state.into()),
            role: Some(role.into()),
            handshake_seq: None,
        });
        self.set_protoinfo(Some(p));
        self
    }

    /// Sets connection labels (numbers 0 to 127) as a 16-byte bitmap, with the mask covering
    /// them.
    #[inline]
    pub fn with_labels(mut self, labels: &[usize]) -> Self {
        let bits = Labels::from_labels(labels);
        self.ext_mut().labels_mask = Some(bits);
        self.set_labels(Some(bits));
        self
    }

    /// Sets the helper by name (the kernel must know it, e.g. `ftp`).
    #[inline]
    pub fn with_helper(mut self, name: &str) -> Self {
        self.ext_mut().helper = Some(Helper {
            name: Some(name.into()),
            info: None,
        });
        self
    }

    /// Returns the address family of the original tuple.
    #[inline]
    pub fn family(&self) -> Option<u8> {
        self.tuple_orig.as_ref().and_then(Tuple::family)
    }

    /// Emits every set field as attributes (the body of a message after its `nfgenmsg`).
    #[inline]
    // Long: one statement per attribute, in the order the kernel emits them.
    pub fn emit(&self, e: &mut Emitter<'_>) {
        let x = self.ext();
        if let Some(t) = &self.tuple_orig {
            t.emit_nest(e, CTA_TUPLE_ORIG);
        }
        if let Some(t) = &self.tuple_reply {
            t.emit_nest(e, CTA_TUPLE_REPLY);
        }
        if let Some(t) = &x.tuple_master {
            t.emit_nest(e, CTA_TUPLE_MASTER);
        }
        if let Some(z) = self.zone {
            e.put_u16_be(CTA_ZONE, z);
        }
        if let Some(s) = self.status {
            e.put_u32_be(CTA_STATUS, s.0);
        }
        if let Some(s) = x.status_mask {
            e.put_u32_be(CTA_STATUS_MASK, s.0);
        }
        if let Some(t) = self.timeout {
            e.put_u32_be(CTA_TIMEOUT, t);
        }
        if let Some(m) = self.mark {
            e.put_u32_be(CTA_MARK, m);
        }
        if let Some(m) = x.mark_mask {
            e.put_u32_be(CTA_MARK_MASK, m);
        }
        if let Some(c) = &self.counters_orig() {
            c.emit_nest(e, CTA_COUNTERS_ORIG);
        }
        if let Some(c) = &self.counters_reply() {
            c.emit_nest(e, CTA_COUNTERS_REPLY);
        }
        if let Some(t) = &self.timestamp() {
            t.emit_nest(e, CTA_TIMESTAMP);
        }
        if let Some(p) = &self.protoinfo() {
            p.emit_nest(e, CTA_PROTOINFO);
        }
        if let Some(h) = &x.helper {
            h.emit_nest(e, CTA_HELP);
        }
        if let Some(n) = &x.nat_src {
            n.emit_nest(e, CTA_NAT_SRC);
        }
        if let Some(n) = &x.nat_dst {
            n.emit_nest(e, CTA_NAT_DST);
        }
        if let Some(s) = x.secmark {
            e.put_u32_be(CTA_SECMARK, s);
        }
        if let Some(s) = &x.secctx {
            e.nest(CTA_SECCTX, |e| e.put_str(CTA_SECCTX_NAME, s));
        }
        if let Some(u) = self.use_count {
            e.put_u32_be(CTA_USE, u);
        }
        if let Some(i) = self.id {
            e.put_u32_be(CTA_ID, i);
        }
        if let Some(l) = &self.labels() {
            e.put(CTA_LABELS, l);
        }
        if let Some(l) = &x.labels_mask {
            e.put(CTA_LABELS_MASK, l);
        }
        if let Some(s) = &x.seq_adj_orig {
            s.emit_nest(e, CTA_SEQ_ADJ_ORIG);
        }
        if let Some(s) = &x.seq_adj_reply {
            s.emit_nest(e, CTA_SEQ_ADJ_REPLY);
        }
        if let Some(s) = &self.synproxy() {
            s.emit_nest(e, CTA_SYNPROXY);
        }
        if let Some(f) = &x.filter {
            f.emit_nest(e);
        }
        if let Some(t) = self.timestamp_event() {
            e.put_u64_be(CTA_TIMESTAMP_EVENT, t);
        }
        for (k, v) in &x.unknown {
            e.put(*k, v);
        }
    }
}

/// The `CTA_SYNPROXY` that the kernel gives every entry made over ctnetlink.
const SYNPROXY_ZERO: Synproxy = Synproxy {
    isn: Some(0),
    its: Some(0),
    tsoff: Some(0),
};

/// Copies the rare attributes out of a view (the protocol state is set apart), with a
/// `CTA_LABELS` too long for [`Labels`] kept as an unknown attribute.
fn parse_ext(v: &ConnView<'_>, long_labels: Option<LabelsView<'_>>) -> ConnExt {
    let mut unknown: Vec<(u16, Vec<u8>)> = v
        .unknown()
        .map(|a| (a.kind(), a.payload().into()))
        .collect();
    if let Some(l) = long_labels {
        unknown.push((CTA_LABELS, l.bytes().into()));
    }
    let labels_mask = v.labels_mask().and_then(|l| {
        let owned = Labels::from_bytes(l.bytes());
        if owned.is_none() {
            unknown.push((CTA_LABELS_MASK, l.bytes().into()));
        }
        owned
    });
    ConnExt {
        tuple_master: v.tuple_master().map(|t| Tuple::parse(&t)),
        status_mask: v.status_mask(),
        helper: v.helper().map(|h| Helper::parse(&h)),
        nat_src: v.nat_src().map(|n| Nat::parse(&n)),
        nat_dst: v.nat_dst().map(|n| Nat::parse(&n)),
        mark_mask: v.mark_mask(),
        seq_adj_orig: v.seq_adj_orig().map(|s| SeqAdj::parse(&s)),
        seq_adj_reply: v.seq_adj_reply().map(|s| SeqAdj::parse(&s)),
        secmark: v.secmark(),
        secctx: v.secctx().and_then(|s| s.name()).map(Into::into),
        timestamp_event: None,
        labels_mask,
        synproxy: None,
        filter: v.filter().map(|f| Filter::parse(&f)),
        unknown,
        protoinfo: None,
    }
}

/// The serialized form: every attribute that is set, in one flat object, named as the fields
/// are (the extension's attributes beside the common ones).
#[cfg(feature = "serde")]
impl serde::Serialize for Conn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let x = self.ext();
        let mut m = s.serialize_map(None)?;
        macro_rules! field {
            ($name:literal, $v:expr) => {
                if let Some(v) = &$v {
                    m.serialize_entry($name, v)?;
                }
            };
        }
        field!("tuple_orig", self.tuple_orig);
        field!("tuple_reply", self.tuple_reply);
        field!("tuple_master", x.tuple_master);
        field!("status", self.status);
        field!("status_mask", x.status_mask);
        field!("protoinfo", self.protoinfo());
        field!("helper", x.helper);
        field!("nat_src", x.nat_src);
        field!("nat_dst", x.nat_dst);
        field!("timeout", self.timeout);
        field!("mark", self.mark);
        field!("mark_mask", x.mark_mask);
        field!("counters_orig", self.counters_orig());
        field!("counters_reply", self.counters_reply());
        field!("use_count", self.use_count);
        field!("id", self.id);
        field!("seq_adj_orig", x.seq_adj_orig);
        field!("seq_adj_reply", x.seq_adj_reply);
        field!("secmark", x.secmark);
        field!("zone", self.zone);
        field!("secctx", x.secctx);
        field!("timestamp", self.timestamp());
        field!("timestamp_event", self.timestamp_event());
        field!("labels", self.labels());
        field!("labels_mask", x.labels_mask);
        field!("synproxy", self.synproxy());
        field!("filter", x.filter);
        if !x.unknown.is_empty() {
            m.serialize_entry("unknown", &x.unknown)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_entry_is_small_and_protocol_state_round_trips() {
        assert!(
            core::mem::size_of::<Conn>() <= 256,
            "{}",
            core::mem::size_of::<Conn>()
        );
        let c = Conn::default().with_tcp_state(TcpState::Established);
        assert!(
            !c.ext.is_allocated(),
            "TCP state, counters, labels and times stay inline"
        );
        let s = c.clone().with_sctp(SctpState::Established, 1, 2);
        let p = s.protoinfo().unwrap();
        assert!(p.tcp.is_some() && p.sctp.is_some());
        let mut back = s.clone();
        back.set_protoinfo(c.protoinfo());
        assert_eq!(
            back, c,
            "the extension left behind is empty, so the entries are equal"
        );
        let d = Conn::default().with_dccp(DccpState::Open, DccpRole::Server);
        let dccp = d.protoinfo().and_then(|p| p.dccp).unwrap();
        assert_eq!((dccp.state, dccp.role), (Some(4), Some(1)));
        let mut empty = Conn::default();
        empty.set_protoinfo(Some(ProtoInfo::default()));
        assert_eq!(
            empty.protoinfo(),
            Some(ProtoInfo::default()),
            "an empty nest is kept"
        );
    }
}
