//! `CTA_NAT_SRC` / `CTA_NAT_DST` (and `CTA_EXPECT_NAT`'s ranges): NAT address and port ranges.

use crate::attr::be_u16;
use crate::consts::*;
use crate::emit::Emitter;
use crate::error::Result;
use crate::table::{Len, Table};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const PROTO_SPEC: [Len; 2] = [Len::Exact(2), Len::Exact(2)];

#[inline]
fn check_proto(b: &[u8]) -> Result<()> {
    Table::<2>::parse(b, CTA_NAT_PROTO, &PROTO_SPEC).map(|_| ())
}

const SPEC: [Len; 5] = [
    Len::Exact(4),
    Len::Exact(4),
    Len::Nest(check_proto),
    Len::Exact(16),
    Len::Exact(16),
];

/// A borrowed NAT range nest (`CTA_NAT_SRC` or `CTA_NAT_DST`).
#[derive(Debug, Clone, Copy)]
pub struct NatView<'a> {
    t: Table<'a, 5>,
    proto: Table<'a, 2>,
}

impl<'a> NatView<'a> {
    /// Validates the nest and its `CTA_NAT_PROTO` nest.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        let t = Table::parse(bytes, CTA_NAT_SRC, &SPEC)?;
        let proto = Table::parse(
            t.get(CTA_NAT_PROTO).unwrap_or(&[]),
            CTA_NAT_PROTO,
            &PROTO_SPEC,
        )?;
        Ok(NatView { t, proto })
    }

    #[inline]
    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        NatView::new_checked(bytes).map(|_| ())
    }

    /// Returns the lowest address of the range (`CTA_NAT_V4_MINIP` or `CTA_NAT_V6_MINIP`).
    #[inline]
    pub fn min_ip(&self) -> Option<IpAddr> {
        ip(self.t.get(CTA_NAT_V4_MINIP), self.t.get(CTA_NAT_V6_MINIP))
    }

    /// Returns the highest address of the range (`CTA_NAT_V4_MAXIP` or `CTA_NAT_V6_MAXIP`).
    #[inline]
    pub fn max_ip(&self) -> Option<IpAddr> {
        ip(self.t.get(CTA_NAT_V4_MAXIP), self.t.get(CTA_NAT_V6_MAXIP))
    }

    /// Returns the lowest port (`CTA_PROTONAT_PORT_MIN`, big-endian on the wire).
    #[inline]
    pub fn min_port(&self) -> Option<u16> {
        self.proto.get(CTA_PROTONAT_PORT_MIN).and_then(be_u16)
    }

    /// Returns the highest port (`CTA_PROTONAT_PORT_MAX`, big-endian on the wire).
    #[inline]
    pub fn max_port(&self) -> Option<u16> {
        self.proto.get(CTA_PROTONAT_PORT_MAX).and_then(be_u16)
    }

    /// Returns every attribute of the nest, known and unknown, in wire order.
    #[inline]
    pub fn attrs(&self) -> crate::Attrs<'a> {
        self.t.attrs()
    }
}

#[inline]
fn ip(v4: Option<&[u8]>, v6: Option<&[u8]>) -> Option<IpAddr> {
    if let Some(b) = v4.and_then(|p| <[u8; 4]>::try_from(p).ok()) {
        return Some(IpAddr::V4(Ipv4Addr::from(b)));
    }
    v6.and_then(|p| <[u8; 16]>::try_from(p).ok())
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

/// An owned NAT range; see [`NatView`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Nat {
    /// Lowest address.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub min_ip: Option<IpAddr>,
    /// Highest address.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_ip: Option<IpAddr>,
    /// Lowest port.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub min_port: Option<u16>,
    /// Highest port.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub max_port: Option<u16>,
}

impl Nat {
    /// A range of addresses `min..=max` (one address when they are equal), any port.
    ///
    /// ```
    /// use conntrack_wire::ct::Nat;
    /// let ip = "192.168.0.1".parse().unwrap();
    /// let n = Nat::range(ip, ip).with_ports(1024, 2047);
    /// assert_eq!((n.min_ip, n.max_port), (Some(ip), Some(2047)));
    /// ```
    #[inline]
    pub fn range(min: IpAddr, max: IpAddr) -> Self {
        Nat {
            min_ip: Some(min),
            max_ip: Some(max),
            ..Default::default()
        }
    }

    /// Sets the port range `min..=max`.
    #[inline]
    pub fn with_ports(mut self, min: u16, max: u16) -> Self {
        (self.min_port, self.max_port) = (Some(min), Some(max));
        self
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Nat {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Nat {{ min_ip: {}, max_ip: {}, min_port: {}, max_port: {} }}",
            defmt::Debug2Format(&self.min_ip),
            defmt::Debug2Format(&self.max_ip),
            self.min_port,
            self.max_port
        )
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NatView<'_> {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", Nat::parse(self))
    }
}

impl Nat {
    /// Copies the range out of a view.
    #[inline]
    pub fn parse(v: &NatView<'_>) -> Self {
        Nat {
            min_ip: v.min_ip(),
            max_ip: v.max_ip(),
            min_port: v.min_port(),
            max_port: v.max_port(),
        }
    }

    /// Emits the range as a nest of type `kind`.
    #[inline]
    pub fn emit_nest(&self, e: &mut Emitter<'_>, kind: u16) {
        e.nest(kind, |e| self.emit(e));
    }

    /// Emits the range's attributes (without a nest header).
    #[inline]
    pub fn emit(&self, e: &mut Emitter<'_>) {
        put_ip(e, self.min_ip, CTA_NAT_V4_MINIP, CTA_NAT_V6_MINIP);
        put_ip(e, self.max_ip, CTA_NAT_V4_MAXIP, CTA_NAT_V6_MAXIP);
        if self.min_port.is_some() || self.max_port.is_some() {
            e.nest(CTA_NAT_PROTO, |e| {
                if let Some(p) = self.min_port {
                    e.put_u16_be(CTA_PROTONAT_PORT_MIN, p);
                }
                if let Some(p) = self.max_port {
                    e.put_u16_be(CTA_PROTONAT_PORT_MAX, p);
                }
            });
        }
    }
}

#[inline]
fn put_ip(e: &mut Emitter<'_>, a: Option<IpAddr>, k4: u16, k6: u16) {
    match a {
        Some(IpAddr::V4(a)) => e.put(k4, &a.octets()),
        Some(IpAddr::V6(a)) => e.put(k6, &a.octets()),
        None => {}
    }
}
