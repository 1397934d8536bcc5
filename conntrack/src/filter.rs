//! User-space evaluation of a dump filter, exactly as the kernel evaluates it.
//!
//! Every filtered dump is checked again here, so the result is exact whatever the kernel did
//! (an old kernel that ignored a filter, or the inverted IPv6 match of `CTA_FILTER`).

use conntrack_wire::ConnView;
use conntrack_wire::ct::{Tuple, TupleView};
use conntrack_wire::request::DumpFilter;

/// Returns whether an entry passes `f`: `(mark & mask) == value`, `(status & mask) == value`,
/// equal zone, and every field set in the filter tuples equal in the entry's tuples.
pub fn matches(f: &DumpFilter, c: &ConnView<'_>) -> bool {
    if let Some((v, m)) = f.mark {
        if c.mark().unwrap_or(0) & m != v {
            return false;
        }
    }
    if let Some((v, m)) = f.status {
        if c.status().map_or(0, |s| s.bits()) & m.bits() != v.bits() {
            return false;
        }
    }
    if let Some(z) = f.zone {
        if c.zone().unwrap_or(0) != z {
            return false;
        }
    }
    if let Some(t) = &f.orig {
        if !tuple_matches(t, c.tuple_orig()) {
            return false;
        }
    }
    if let Some(t) = &f.reply {
        if !tuple_matches(t, c.tuple_reply()) {
            return false;
        }
    }
    true
}

/// Returns whether every field set in `want` has the same value in `got`.
pub fn tuple_matches(want: &Tuple, got: Option<TupleView<'_>>) -> bool {
    let Some(g) = got else { return false };
    fn eq<T: PartialEq>(w: Option<T>, g: Option<T>) -> bool {
        w.is_none() || w == g
    }
    let p = &want.proto;
    eq(want.src, g.src())
        && eq(want.dst, g.dst())
        && eq(p.num, g.proto_num())
        && eq(p.src_port, g.src_port())
        && eq(p.dst_port, g.dst_port())
        && eq(p.icmp_id, g.icmp_id())
        && eq(p.icmp_type, g.icmp_type())
        && eq(p.icmp_code, g.icmp_code())
        && eq(p.icmpv6_id, g.icmpv6_id())
        && eq(p.icmpv6_type, g.icmpv6_type())
        && eq(p.icmpv6_code, g.icmpv6_code())
        && eq(want.zone, g.zone())
}
