//! User-space evaluation of a dump filter, exactly as the kernel evaluates it.
//!
//! Every filtered dump is checked again here, so the result is exact whatever the kernel did
//! (an old kernel that ignored a filter, or the inverted IPv6 match of `CTA_FILTER`).

use conntrack_wire::ConnView;
use conntrack_wire::ct::{Tuple, TupleView};
use conntrack_wire::request::DumpFilter;

/// Returns whether an entry passes `f`: `(mark & mask) == value`, `(status & mask) == value`,
/// equal zone id (see [`zone_id`]), and every field set in the filter tuples equal in the
/// entry's tuples (a tuple's zone compared with [`dir_zone_id`] of that direction).
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
    if f.zone.is_some_and(|z| zone_id(c) != z) {
        return false;
    }
    for (want, got) in [(&f.orig, c.tuple_orig()), (&f.reply, c.tuple_reply())] {
        if let Some(t) = want {
            if !tuple_matches(t, got) || t.zone.is_some_and(|z| dir_zone_id(c, got) != z) {
                return false;
            }
        }
    }
    true
}

/// Returns an entry's zone id as the kernel's zone filters compare it: the zone of the
/// entry whichever directions it applies to (`CTA_ZONE` when it applies to both, the
/// tuple's `CTA_TUPLE_ZONE` when it applies to one), 0 without one.
pub fn zone_id(c: &ConnView<'_>) -> u16 {
    c.zone()
        .or_else(|| c.tuple_orig().and_then(|t| t.zone()))
        .or_else(|| c.tuple_reply().and_then(|t| t.zone()))
        .unwrap_or(0)
}

/// Returns the zone id of one direction of an entry (`tuple` is that direction's tuple): the
/// entry's zone when it applies to both directions or to this one, else the default zone 0.
pub fn dir_zone_id(c: &ConnView<'_>, tuple: Option<TupleView<'_>>) -> u16 {
    c.zone()
        .or_else(|| tuple.and_then(|t| t.zone()))
        .unwrap_or(0)
}

/// Returns whether every address and protocol field set in `want` has the same value in
/// `got` (the zone is compared by [`matches()`], which sees the whole entry).
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
}
