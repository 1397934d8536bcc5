//! One selection type: the entries that `list`, `delete`, `update` and `events` select with
//! the same options, evaluated the same way by all of them (in the kernel where it can, in
//! user space always, so every command sees exactly the entries `list` shows).

use crate::args::Filter;
use crate::nat::NatFilter;
use crate::net::Net;
use crate::parse::{addr, family, mark, proto_num, state_num, status};
use crate::{R, bad};
use conntrack::events::{EventFilter, Match};
use conntrack::wire::ConnView;
use conntrack::wire::consts::*;
use conntrack::wire::ct::{Labels, Tuple};
use conntrack::{DumpFilter, Family};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a command does with the options that can both select and set (mark, status,
/// protocol state): `list`, `delete` and `events` select by them; `update` sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every option selects.
    Select,
    /// Mark, status and state are new values; the rest selects.
    Target,
}

/// The entries a command's options select.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-f`.
    pub family: Family,
    /// Tuples, mark, status and zone: filtered by the kernel where it can, and always
    /// checked again in user space by the library (and by [`Selection::matches`]).
    pub filter: DumpFilter,
    /// `--state`: the protocol it was named for, and its number.
    pub state: Option<(u8, u8)>,
    /// `-l`: every one of these labels must be set.
    pub labels: Option<Labels>,
    /// `-w`: the entry's `CTA_ZONE`, 0 without one, as conntrack-tools compares it. A zone
    /// that applies to one direction only (`zone-orig=`, `zone-reply=`) is not the entry's
    /// zone here, so `-w 7` does not select it and `-w 0` does; the kernel's zone filter
    /// (the library's [`DumpFilter::zone`]) compares the zone id whatever its directions.
    pub zone: Option<u16>,
    /// `-c`: the entry's security mark (`CTA_SECMARK`), compared as conntrack-tools compares
    /// it: an entry that carries none matches (kernels no longer send the attribute, so on
    /// them `-c` selects everything, in both tools).
    pub secmark: Option<u32>,
    /// `-i`: the entry id (`CTA_ID`).
    pub id: Option<u32>,
    /// `--orig-zone`, `--reply-zone`: a direction's own zone (`CTA_TUPLE_ZONE`, 0 without
    /// one), as conntrack-tools compares them (an entry zoned in both directions has
    /// `CTA_ZONE` and no tuple zone: direction zone 0 here).
    pub dir_zones: [Option<u16>; 2],
    /// `-s`, `-d`, `-r`, `-q` given as networks (`/LEN`, `--mask-src`, `--mask-dst`):
    /// original source and destination, reply source and destination, checked here.
    pub nets: [Option<Net>; 4],
    /// `-n`, `-g`, `-j`: NAT, checked here (see [`NatFilter`]).
    pub nat: Option<NatFilter>,
}

/// Protocols with ports in their tuple.
fn has_ports(p: u8) -> bool {
    matches!(
        p,
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_DCCP | IPPROTO_UDPLITE | IPPROTO_GRE
    )
}

/// The original tuple of `-p -s -d --sport --dport --icmp-*`, or `None` when none is given.
pub fn orig_tuple(f: &Filter) -> R<Option<Tuple>> {
    let proto = f.proto.as_deref().map(proto_num).transpose()?;
    let mut t = Tuple::from_addrs(
        f.src.as_deref().map(|s| addr(s, "source")).transpose()?,
        f.dst
            .as_deref()
            .map(|s| addr(s, "destination"))
            .transpose()?,
    );
    t.proto.num = proto;
    if f.sport.is_some() || f.dport.is_some() {
        match proto {
            Some(p) if has_ports(p) => {}
            _ => {
                return Err(bad(
                    "--sport and --dport need a protocol with ports (-p tcp, udp, sctp, dccp or udplite), or keys with -p gre",
                ));
            }
        }
    }
    t.proto.src_port = f.sport;
    t.proto.dst_port = f.dport;
    if f.icmp_type.is_some() || f.icmp_code.is_some() || f.icmp_id.is_some() {
        let v6 = match proto {
            Some(IPPROTO_ICMP) => false,
            Some(IPPROTO_ICMPV6) => true,
            _ => return Err(bad("ICMP fields need -p icmp or -p icmpv6")),
        };
        let fields = (f.icmp_type, f.icmp_code, f.icmp_id);
        if v6 {
            (t.proto.icmpv6_type, t.proto.icmpv6_code, t.proto.icmpv6_id) = fields;
        } else {
            (t.proto.icmp_type, t.proto.icmp_code, t.proto.icmp_id) = fields;
        }
    }
    Ok((t != Tuple::default()).then_some(t))
}

/// The reply tuple of `-r -q --reply-port-*` (with `-p`), or `None` when none is given.
pub fn reply_tuple(f: &Filter) -> R<Option<Tuple>> {
    let mut t = Tuple::from_addrs(
        f.reply_src
            .as_deref()
            .map(|s| addr(s, "reply source"))
            .transpose()?,
        f.reply_dst
            .as_deref()
            .map(|s| addr(s, "reply destination"))
            .transpose()?,
    );
    t.proto.src_port = f.reply_sport;
    t.proto.dst_port = f.reply_dport;
    if t == Tuple::default() {
        return Ok(None);
    }
    t.proto.num = f.proto.as_deref().map(proto_num).transpose()?;
    if t.proto.src_port.is_some() || t.proto.dst_port.is_some() {
        match t.proto.num {
            Some(p) if has_ports(p) => {}
            _ => return Err(bad("reply ports need a protocol with ports (-p)")),
        }
    }
    Ok(Some(t))
}

/// `--state`, with the protocol it names a state of (`-p` is required: state numbers mean
/// different things for TCP, SCTP and DCCP).
pub fn state(f: &Filter) -> R<Option<(u8, u8)>> {
    let Some(s) = f.state.as_deref() else {
        return Ok(None);
    };
    let proto = f.proto.as_deref().map(proto_num).transpose()?;
    match proto {
        Some(p @ (IPPROTO_TCP | IPPROTO_SCTP | IPPROTO_DCCP)) => Ok(Some((p, state_num(p, s)?))),
        _ => Err(bad("--state needs -p tcp, sctp or dccp")),
    }
}

impl Selection {
    /// The selection of `f`'s options in `role`.
    pub fn of(f: &Filter, role: Role) -> R<Self> {
        let (exact, nets) = crate::net::split(f)?;
        let f = &exact;
        let mut filter = DumpFilter {
            orig: orig_tuple(f)?,
            reply: reply_tuple(f)?,
            // For a zone other than 0 the kernel's filter selects a superset (it also has
            // the entries zoned in one direction); for 0 it would select fewer.
            zone: f.zone.filter(|&z| z != 0),
            ..Default::default()
        };
        let mut sel = Selection {
            family: family(f)?,
            labels: f
                .label
                .as_deref()
                .map(crate::labelmap::bits)
                .transpose()?
                .map(|l| Labels::from_labels(&l)),
            zone: f.zone,
            secmark: f.secmark,
            id: f.id,
            dir_zones: [f.orig_zone, f.reply_zone],
            nets,
            nat: NatFilter::of(f)?,
            ..Default::default()
        };
        for a in [&filter.orig, &filter.reply]
            .into_iter()
            .flatten()
            .flat_map(|t| [t.src, t.dst])
            .flatten()
            .chain(nets.iter().flatten().map(|n| n.addr))
        {
            if sel.family != Family::Any && sel.family != Family::of(a) {
                return Err(bad(format!(
                    "address {a} is not of family {:?}",
                    sel.family
                )));
            }
        }
        if role == Role::Select {
            if let Some(m) = &f.mark {
                let (v, mask) = mark(m)?;
                filter.mark = Some((v & mask, mask));
            }
            if let Some(s) = &f.status {
                let st = status(s)?;
                filter.status = Some((st, st));
            }
            sel.state = state(f)?;
        }
        sel.filter = filter;
        Ok(sel)
    }

    /// Returns whether an entry is selected: the whole selection, evaluated in user space
    /// (the library's dumps already apply the [`DumpFilter`] part; events apply it here).
    pub fn matches(&self, c: &ConnView<'_>) -> bool {
        if self.family != Family::Any
            && c.tuple_orig().and_then(|t| t.src()).map(Family::of) != Some(self.family)
        {
            return false;
        }
        if !self.filter.matches(c) {
            return false;
        }
        if self.zone.is_some_and(|z| c.zone().unwrap_or(0) != z) {
            return false;
        }
        if self
            .secmark
            .is_some_and(|m| c.secmark().is_some_and(|s| s != m))
        {
            return false;
        }
        if self.id.is_some_and(|i| c.id() != Some(i)) {
            return false;
        }
        if self.nat.is_some_and(|n| !n.matches(c)) {
            return false;
        }
        let (o, r) = (c.tuple_orig(), c.tuple_reply());
        let ends = [
            o.and_then(|t| t.src()),
            o.and_then(|t| t.dst()),
            r.and_then(|t| t.src()),
            r.and_then(|t| t.dst()),
        ];
        for (net, a) in self.nets.iter().zip(ends) {
            if net.is_some_and(|n| !a.is_some_and(|a| n.contains(a))) {
                return false;
            }
        }
        for (want, t) in self.dir_zones.iter().zip([c.tuple_orig(), c.tuple_reply()]) {
            if want.is_some_and(|z| t.and_then(|t| t.zone()).unwrap_or(0) != z) {
                return false;
            }
        }
        if let Some((proto, s)) = self.state {
            let got = c.protoinfo().and_then(|p| match proto {
                IPPROTO_TCP => p.tcp().and_then(|t| t.state()),
                IPPROTO_SCTP => p.sctp().and_then(|t| t.state()),
                _ => p.dccp().and_then(|t| t.state()),
            });
            if c.tuple_orig().and_then(|t| t.proto_num()) != Some(proto) || got != Some(s) {
                return false;
            }
        }
        if let Some(want) = &self.labels {
            let Some(l) = c.labels() else { return false };
            if !want.view().iter().all(|n| l.contains(n)) {
                return false;
            }
        }
        true
    }

    /// The kernel-side BPF filter of an event stream that delivers every selected event
    /// (and perhaps more: [`Selection::matches`] decides). Status and labels have no BPF
    /// test here and are left to user space; a state filter is compiled for TCP only.
    pub fn event_filter(&self) -> EventFilter {
        let mut ef = EventFilter::default();
        let f = &self.filter;
        if self.family != Family::Any {
            ef.family = Match::any([self.family.af()]);
        }
        let proto = f.orig.or(f.reply).and_then(|t| t.proto.num);
        if let Some(p) = proto {
            ef.l4proto = Match::any([p]);
        }
        if let Some(t) = &f.orig {
            Ends {
                src_v4: &mut ef.orig_src_v4,
                src_v6: &mut ef.orig_src_v6,
                dst_v4: &mut ef.orig_dst_v4,
                dst_v6: &mut ef.orig_dst_v6,
                src_port: &mut ef.orig_src_port,
                dst_port: &mut ef.orig_dst_port,
            }
            .set(t);
            let p = &t.proto;
            if let Some(v) = p.icmp_type.or(p.icmpv6_type) {
                ef.icmp_type = Match::any([v]);
            }
            if let Some(v) = p.icmp_code.or(p.icmpv6_code) {
                ef.icmp_code = Match::any([v]);
            }
            if let Some(v) = p.icmp_id.or(p.icmpv6_id) {
                ef.icmp_id = Match::any([v]);
            }
        }
        if let Some(t) = &f.reply {
            Ends {
                src_v4: &mut ef.reply_src_v4,
                src_v6: &mut ef.reply_src_v6,
                dst_v4: &mut ef.reply_dst_v4,
                dst_v6: &mut ef.reply_dst_v6,
                src_port: &mut ef.reply_src_port,
                dst_port: &mut ef.reply_dst_port,
            }
            .set(t);
        }
        if let Some(m) = f.mark {
            ef.mark = Match::any([m]);
        }
        if let Some(z) = self.zone {
            ef.zone = Match::any([z]);
        }
        if let Some((IPPROTO_TCP, s)) = self.state {
            ef.tcp_state = Match::any([s]);
        }
        // An address names its family: events of the other family must not pass (the
        // filter's per-family address tests would let them through).
        let named = [&f.orig, &f.reply]
            .into_iter()
            .flatten()
            .find_map(|t| t.src.or(t.dst))
            .or_else(|| self.nets.iter().flatten().map(|n| n.addr).next());
        // Networks with a prefix are tested by the program too (others only here).
        let prefixed = |i: usize| self.nets[i].and_then(|n| Some((n.addr, n.prefix()?)));
        for (i, v4, v6) in [
            (0, &mut ef.orig_src_v4, &mut ef.orig_src_v6),
            (1, &mut ef.orig_dst_v4, &mut ef.orig_dst_v6),
            (2, &mut ef.reply_src_v4, &mut ef.reply_src_v6),
            (3, &mut ef.reply_dst_v4, &mut ef.reply_dst_v6),
        ] {
            match prefixed(i) {
                Some((IpAddr::V4(a), l)) => *v4 = Match::any([(a, l)]),
                Some((IpAddr::V6(a), l)) => *v6 = Match::any([(a, l)]),
                None => {}
            }
        }
        if let (Some(a), Family::Any) = (named, self.family) {
            ef.family = Match::any([Family::of(a).af()]);
        }
        ef
    }
}

/// The address and port tests of one direction of an [`EventFilter`].
struct Ends<'a> {
    src_v4: &'a mut Match<(Ipv4Addr, u8)>,
    src_v6: &'a mut Match<(Ipv6Addr, u8)>,
    dst_v4: &'a mut Match<(Ipv4Addr, u8)>,
    dst_v6: &'a mut Match<(Ipv6Addr, u8)>,
    src_port: &'a mut Match<u16>,
    dst_port: &'a mut Match<u16>,
}

impl Ends<'_> {
    /// Tests for the addresses and ports `t` sets (a whole address: prefix 32 or 128).
    fn set(self, t: &Tuple) {
        for (a, v4, v6) in [
            (t.src, self.src_v4, self.src_v6),
            (t.dst, self.dst_v4, self.dst_v6),
        ] {
            match a {
                Some(IpAddr::V4(a)) => *v4 = Match::any([(a, 32)]),
                Some(IpAddr::V6(a)) => *v6 = Match::any([(a, 128)]),
                None => {}
            }
        }
        if let Some(p) = t.proto.src_port {
            *self.src_port = Match::any([p]);
        }
        if let Some(p) = t.proto.dst_port {
            *self.dst_port = Match::any([p]);
        }
    }
}
