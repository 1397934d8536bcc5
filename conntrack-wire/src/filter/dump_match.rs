//! User-space evaluation of a [`DumpFilter`], exactly as the kernel evaluates it.
//!
//! `conntrack` checks every filtered dump again with this, so the result is exact whatever
//! the kernel did (an old kernel that ignored a filter, or the inverted IPv6 match of
//! `CTA_FILTER`).

use crate::ct::{ConnView, Tuple, TupleView};
use crate::request::{Dir, DumpFilter};

impl DumpFilter {
    /// Returns whether an entry passes the filter: `(mark & mask) == value`,
    /// `(status & mask) == value`, equal zone id (see [`ConnView::zone_id`]), and every
    /// field set in the filter tuples equal in the entry's tuples (a tuple's zone compared
    /// with [`ConnView::dir_zone_id`] of that direction).
    pub fn matches(&self, c: &ConnView<'_>) -> bool {
        if let Some((v, m)) = self.mark {
            if c.mark().unwrap_or(0) & m != v {
                return false;
            }
        }
        if let Some((v, m)) = self.status {
            if c.status().map_or(0, |s| s.bits()) & m.bits() != v.bits() {
                return false;
            }
        }
        if self.zone.is_some_and(|z| c.zone_id() != z) {
            return false;
        }
        for (dir, want) in [(Dir::Orig, &self.orig), (Dir::Reply, &self.reply)] {
            if let Some(t) = want {
                let got = match dir {
                    Dir::Orig => c.tuple_orig(),
                    Dir::Reply => c.tuple_reply(),
                };
                if !tuple_matches(t, got) || t.zone.is_some_and(|z| c.dir_zone_id(dir) != z) {
                    return false;
                }
            }
        }
        true
    }
}

impl ConnView<'_> {
    /// Returns the entry's zone id as the kernel's zone filters compare it: the zone of the
    /// entry whichever directions it applies to (`CTA_ZONE` when it applies to both, a
    /// tuple's `CTA_TUPLE_ZONE` when it applies to one), 0 without one.
    pub fn zone_id(&self) -> u16 {
        self.zone()
            .or_else(|| self.tuple_orig().and_then(|t| t.zone()))
            .or_else(|| self.tuple_reply().and_then(|t| t.zone()))
            .unwrap_or(0)
    }

    /// Returns the zone id of one direction: the entry's zone when it applies to both
    /// directions or to this one, else the default zone 0.
    pub fn dir_zone_id(&self, dir: Dir) -> u16 {
        let t = match dir {
            Dir::Orig => self.tuple_orig(),
            Dir::Reply => self.tuple_reply(),
        };
        self.zone()
            .or_else(|| t.and_then(|t| t.zone()))
            .unwrap_or(0)
    }
}

/// Returns whether every address and protocol field set in `want` has the same value in
/// `got` (the zone is compared by [`DumpFilter::matches`], which sees the whole entry).
fn tuple_matches(want: &Tuple, got: Option<TupleView<'_>>) -> bool {
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
