//! `CTA_FILTER`: which fields of `CTA_TUPLE_ORIG` / `CTA_TUPLE_REPLY` a dump or flush compares.
//!
//! Unlike nearly every other ctnetlink payload, the `CTA_FILTER_*_FLAGS` words are host-endian
//! (the kernel reads them with `nla_get_u32`).

use crate::attr::ne_u32;
use crate::consts::*;
use crate::ct::Tuple;
use crate::emit::Emitter;
use crate::error::Result;
use crate::table::{Len, Table};

const SPEC: [Len; 3] = [Len::Exact(4), Len::Exact(4), Len::Flag];

/// A borrowed `CTA_FILTER` nest.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterView<'a> {
    orig: Option<&'a [u8]>,
    reply: Option<&'a [u8]>,
    zone: bool,
}

impl<'a> FilterView<'a> {
    /// Validates the nest.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        let t = Table::parse(bytes, CTA_FILTER, &SPEC)?;
        Ok(FilterView {
            orig: t.get(CTA_FILTER_ORIG_FLAGS),
            reply: t.get(CTA_FILTER_REPLY_FLAGS),
            zone: t.has(CTA_FILTER_ZONE),
        })
    }

    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        FilterView::new_checked(bytes).map(|_| ())
    }

    /// Returns the `CTA_FILTER_F_*` flags for the original tuple (host-endian).
    pub fn orig_flags(&self) -> Option<u32> {
        self.orig.and_then(ne_u32)
    }

    /// Returns the `CTA_FILTER_F_*` flags for the reply tuple (host-endian).
    pub fn reply_flags(&self) -> Option<u32> {
        self.reply.and_then(ne_u32)
    }

    /// Returns whether `CTA_FILTER_ZONE` is set (compare the tuple zone too; 2026 kernels).
    pub fn zone(&self) -> bool {
        self.zone
    }
}

/// An owned `CTA_FILTER`; see [`FilterView`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Filter {
    /// `CTA_FILTER_ORIG_FLAGS`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub orig_flags: Option<u32>,
    /// `CTA_FILTER_REPLY_FLAGS`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub reply_flags: Option<u32>,
    /// `CTA_FILTER_ZONE`.
    pub zone: bool,
}

impl Filter {
    /// Copies the filter out of a view.
    pub fn parse(v: &FilterView<'_>) -> Self {
        Filter {
            orig_flags: v.orig_flags(),
            reply_flags: v.reply_flags(),
            zone: v.zone(),
        }
    }

    /// Emits `CTA_FILTER`.
    pub fn emit_nest(&self, e: &mut Emitter<'_>) {
        e.nest(CTA_FILTER, |e| {
            if let Some(f) = self.orig_flags {
                e.put_u32_ne(CTA_FILTER_ORIG_FLAGS, f);
            }
            if let Some(f) = self.reply_flags {
                e.put_u32_ne(CTA_FILTER_REPLY_FLAGS, f);
            }
            if self.zone {
                e.put_flag(CTA_FILTER_ZONE);
            }
        });
    }
}

/// Returns the `CTA_FILTER_F_*` flags that make the kernel compare exactly the fields set in
/// `tuple`. The kernel needs the protocol number for any port or ICMP field.
pub fn filter_flags_for(tuple: &Tuple) -> u32 {
    let p = &tuple.proto;
    let mut f = 0;
    let mut set = |cond: bool, bit: u32| {
        if cond {
            f |= bit;
        }
    };
    set(p.num.is_some(), CTA_FILTER_F_CTA_PROTO_NUM);
    set(tuple.zone.is_some(), CTA_FILTER_F_CTA_TUPLE_ZONE);
    set(tuple.src.is_some(), CTA_FILTER_F_CTA_IP_SRC);
    set(tuple.dst.is_some(), CTA_FILTER_F_CTA_IP_DST);
    set(p.src_port.is_some(), CTA_FILTER_F_CTA_PROTO_SRC_PORT);
    set(p.dst_port.is_some(), CTA_FILTER_F_CTA_PROTO_DST_PORT);
    set(p.icmp_type.is_some(), CTA_FILTER_F_CTA_PROTO_ICMP_TYPE);
    set(p.icmp_code.is_some(), CTA_FILTER_F_CTA_PROTO_ICMP_CODE);
    set(p.icmp_id.is_some(), CTA_FILTER_F_CTA_PROTO_ICMP_ID);
    set(p.icmpv6_type.is_some(), CTA_FILTER_F_CTA_PROTO_ICMPV6_TYPE);
    set(p.icmpv6_code.is_some(), CTA_FILTER_F_CTA_PROTO_ICMPV6_CODE);
    set(p.icmpv6_id.is_some(), CTA_FILTER_F_CTA_PROTO_ICMPV6_ID);
    f
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    #[test]
    fn flags_follow_set_fields() {
        let mut t = Tuple::default();
        t.src = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        t.proto.num = Some(6);
        t.proto.dst_port = Some(80);
        assert_eq!(
            filter_flags_for(&t),
            CTA_FILTER_F_CTA_PROTO_NUM | CTA_FILTER_F_CTA_IP_SRC | CTA_FILTER_F_CTA_PROTO_DST_PORT
        );
    }

    #[test]
    fn flags_are_host_endian_on_the_wire() {
        let f = Filter {
            orig_flags: Some(0x0102_0304),
            reply_flags: None,
            zone: true,
        };
        let mut buf = [0xa5u8; 16];
        let mut e = Emitter::new(&mut buf);
        f.emit_nest(&mut e);
        assert_eq!(e.finish(), Ok(16));
        assert_eq!(&buf[8..12], &0x0102_0304u32.to_ne_bytes());
        let v = FilterView::new_checked(&buf[4..16]).unwrap();
        assert_eq!(Filter::parse(&v), f);
    }
}
