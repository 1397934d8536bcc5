//! The filter evaluated in user space, as the compiled program decides in the kernel.

use super::{EventFilter, Match, V4Net, V6Net};
use crate::Message;
use crate::consts::*;
use core::net::Ipv6Addr;

pub(super) fn v4_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

pub(super) fn v6_masks(len: u8) -> [u32; 4] {
    let mut m = [0u32; 4];
    for (i, w) in m.iter_mut().enumerate() {
        let bits = i32::from(len.min(128)) - 32 * i as i32;
        *w = if bits >= 32 {
            u32::MAX
        } else if bits <= 0 {
            0
        } else {
            v4_mask(bits as u8)
        };
    }
    m
}

pub(super) fn words(a: Ipv6Addr) -> [u32; 4] {
    let b = a.to_bits();
    [
        (b >> 96) as u32,
        (b >> 64) as u32,
        (b >> 32) as u32,
        b as u32,
    ]
}

/// Reads a `N`-byte array at `off`, if the slice is long enough.
pub(super) fn arr<const N: usize>(p: &[u8], off: usize) -> Option<[u8; N]> {
    p.get(off..off.checked_add(N)?)
        .and_then(|b| b.try_into().ok())
}

pub(super) fn crit<T>(m: &Match<T>, value: Option<impl Fn(&T) -> bool>) -> bool {
    if !m.active() {
        return true;
    }
    let hit = match value {
        Some(eq) => m.values.iter().any(eq),
        None => false,
    };
    hit != m.negate
}

impl EventFilter {
    /// Evaluates the filter on one message, as the compiled program does in the kernel:
    /// messages of other subsystems go to shard 0, conntrack messages other than events
    /// (`IPCTNL_MSG_CT_NEW`, `IPCTNL_MSG_CT_DELETE`) pass, and an event whose attributes do
    /// not validate is refused.
    // Long: one statement per criterion, in the order the compiler emits them.
    pub fn matches(&self, msg: &Message<'_>) -> bool {
        let [subsys, kind] = msg.nlmsg_type().to_be_bytes();
        if subsys != NFNL_SUBSYS_CTNETLINK {
            return self.shard.is_none_or(|s| s.index == 0);
        }
        if kind != IPCTNL_MSG_CT_NEW && kind != IPCTNL_MSG_CT_DELETE {
            return true;
        }
        let Ok(c) = msg.conn() else { return false };
        if !self.shard.is_none_or(|s| s.holds(c.id().unwrap_or(0))) {
            return false;
        }
        let fam = msg.family().unwrap_or(0);
        let o = c.tuple_orig();
        let r = c.tuple_reply();
        let net4 = |m: &Match<V4Net>, v| net4(fam, m, v);
        let net6 = |m: &Match<V6Net>, v| net6(fam, m, v);
        let eq = |v: Option<u16>| v.map(|v| move |x: &u16| *x == v);
        let eq8 = |v: Option<u8>| v.map(|v| move |x: &u8| *x == v);
        let icmp_type = o.as_ref().and_then(|t| t.icmp_type().or(t.icmpv6_type()));
        let icmp_code = o.as_ref().and_then(|t| t.icmp_code().or(t.icmpv6_code()));
        let icmp_id = o.as_ref().and_then(|t| t.icmp_id().or(t.icmpv6_id()));
        let mark = c.mark().unwrap_or(0);
        let status = c.status().map_or(0, |s| s.bits());
        crit(&self.family, Some(|x: &u8| *x == fam))
            && crit(&self.l4proto, eq8(o.as_ref().and_then(|t| t.proto_num())))
            && net4(&self.orig_src_v4, v4(&o, true))
            && net4(&self.orig_dst_v4, v4(&o, false))
            && net4(&self.reply_src_v4, v4(&r, true))
            && net4(&self.reply_dst_v4, v4(&r, false))
            && net6(&self.orig_src_v6, v6(&o, true))
            && net6(&self.orig_dst_v6, v6(&o, false))
            && net6(&self.reply_src_v6, v6(&r, true))
            && net6(&self.reply_dst_v6, v6(&r, false))
            && crit(
                &self.orig_src_port,
                eq(o.as_ref().and_then(|t| t.src_port())),
            )
            && crit(
                &self.orig_dst_port,
                eq(o.as_ref().and_then(|t| t.dst_port())),
            )
            && crit(
                &self.reply_src_port,
                eq(r.as_ref().and_then(|t| t.src_port())),
            )
            && crit(
                &self.reply_dst_port,
                eq(r.as_ref().and_then(|t| t.dst_port())),
            )
            && crit(&self.icmp_type, eq8(icmp_type))
            && crit(&self.icmp_code, eq8(icmp_code))
            && crit(&self.icmp_id, eq(icmp_id))
            && crit(
                &self.tcp_state,
                eq8(c.protoinfo().and_then(|p| p.tcp()).and_then(|t| t.state())),
            )
            && crit(&self.mark, Some(|&(v, m): &(u32, u32)| mark & m == v & m))
            && crit(&self.zone, Some(|z: &u16| *z == c.zone().unwrap_or(0)))
            && crit(
                &self.status,
                Some(|&(v, m): &(u32, u32)| status & m == v & m),
            )
            && crit(
                &self.secmark,
                Some(|v: &u32| *v == c.secmark().unwrap_or(0)),
            )
            && crit(&self.id, Some(|v: &u32| *v == c.id().unwrap_or(0)))
            && self.matches_more(&c, fam)
    }

    /// The criteria of the reply and master tuples, protocol state, ranges and labels.
    // Long: one statement per criterion, in the order the compiler emits them.
    fn matches_more(&self, c: &crate::ConnView<'_>, fam: u8) -> bool {
        let (r, x) = (c.tuple_reply(), c.tuple_master());
        let eq = |v: Option<u16>| v.map(|v| move |x: &u16| *x == v);
        let eq8 = |v: Option<u8>| v.map(|v| move |x: &u8| *x == v);
        let eq32 = |v: Option<u32>| v.map(|v| move |x: &u32| *x == v);
        let t = |t: &Option<crate::TupleView<'_>>, f: fn(&crate::TupleView<'_>) -> Option<u16>| {
            t.as_ref().and_then(f)
        };
        let net4 = |m: &Match<V4Net>, v| net4(fam, m, v);
        let net6 = |m: &Match<V6Net>, v| net6(fam, m, v);
        let p = c.protoinfo();
        let tcp = p.as_ref().and_then(|p| p.tcp());
        let sctp = p.as_ref().and_then(|p| p.sctp());
        let dccp = p.as_ref().and_then(|p| p.dccp());
        let flags = |f: Option<crate::ct::TcpFlags>| {
            f.map(|f| move |&(v, m): &(u8, u8)| f.flags & m == v & m)
        };
        let range = |v: u32| Some(move |&(lo, hi): &(u32, u32)| lo <= v && v <= hi);
        let labels = c.labels();
        crit(
            &self.reply_l4proto,
            eq8(r.as_ref().and_then(|t| t.proto_num())),
        ) && crit(
            &self.reply_icmp_type,
            eq8(r.as_ref().and_then(|t| t.icmp_type().or(t.icmpv6_type()))),
        ) && crit(
            &self.reply_icmp_code,
            eq8(r.as_ref().and_then(|t| t.icmp_code().or(t.icmpv6_code()))),
        ) && crit(
            &self.reply_icmp_id,
            eq(t(&r, |t| t.icmp_id().or(t.icmpv6_id()))),
        ) && crit(
            &self.master_l4proto,
            eq8(x.as_ref().and_then(|t| t.proto_num())),
        ) && net4(&self.master_src_v4, v4(&x, true))
            && net4(&self.master_dst_v4, v4(&x, false))
            && net6(&self.master_src_v6, v6(&x, true))
            && net6(&self.master_dst_v6, v6(&x, false))
            && crit(&self.master_src_port, eq(t(&x, |t| t.src_port())))
            && crit(&self.master_dst_port, eq(t(&x, |t| t.dst_port())))
            && crit(
                &self.tcp_flags_orig,
                flags(tcp.and_then(|t| t.flags_original())),
            )
            && crit(
                &self.tcp_flags_reply,
                flags(tcp.and_then(|t| t.flags_reply())),
            )
            && crit(
                &self.tcp_wscale_orig,
                eq8(tcp.and_then(|t| t.wscale_original())),
            )
            && crit(
                &self.tcp_wscale_reply,
                eq8(tcp.and_then(|t| t.wscale_reply())),
            )
            && crit(&self.sctp_state, eq8(sctp.and_then(|s| s.state())))
            && crit(
                &self.sctp_vtag_orig,
                eq32(sctp.and_then(|s| s.vtag_original())),
            )
            && crit(
                &self.sctp_vtag_reply,
                eq32(sctp.and_then(|s| s.vtag_reply())),
            )
            && crit(&self.dccp_state, eq8(dccp.and_then(|d| d.state())))
            && crit(&self.dccp_role, eq8(dccp.and_then(|d| d.role())))
            && crit(&self.timeout, range(c.timeout().unwrap_or(0)))
            && crit(&self.use_count, range(c.use_count().unwrap_or(0)))
            && crit(
                &self.labels,
                Some(|b: &u16| labels.is_some_and(|l| l.contains(usize::from(*b)))),
            )
    }
}

/// A tuple's IPv4 source or destination, as a host-order word.
fn v4(t: &Option<crate::TupleView<'_>>, src: bool) -> Option<u32> {
    t.as_ref()
        .and_then(|t| if src { t.v4_src() } else { t.v4_dst() })
        .map(u32::from_be_bytes)
}

/// A tuple's IPv6 source or destination, as four host-order words.
fn v6(t: &Option<crate::TupleView<'_>>, src: bool) -> Option<[u32; 4]> {
    t.as_ref()
        .and_then(|t| if src { t.v6_src() } else { t.v6_dst() })
        .map(|b| words(Ipv6Addr::from(b)))
}

/// An IPv4 network criterion: IPv4 events only (others pass).
fn net4(fam: u8, m: &Match<V4Net>, v: Option<u32>) -> bool {
    fam != AF_INET
        || crit(
            m,
            v.map(|v| move |&(a, l): &V4Net| v & v4_mask(l) == u32::from(a) & v4_mask(l)),
        )
}

/// An IPv6 network criterion: IPv6 events only (others pass).
fn net6(fam: u8, m: &Match<V6Net>, v: Option<[u32; 4]>) -> bool {
    fam != AF_INET6
        || crit(
            m,
            v.map(|v| {
                move |&(a, l): &V6Net| {
                    let (w, mk) = (words(a), v6_masks(l));
                    v.iter().zip(w).zip(mk).all(|((v, w), m)| v & m == w & m)
                }
            }),
        )
}
