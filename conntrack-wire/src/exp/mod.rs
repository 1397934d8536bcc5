//! Expectations: `CTA_EXPECT_*` (the `NFNL_SUBSYS_CTNETLINK_EXP` subsystem).

use crate::attr::{Attrs, be_u16, be_u32, cstr};
use crate::consts::*;
use crate::ct::TupleView;
use crate::error::Result;
use crate::table::{Len, Table};

const NAT_SPEC: [Len; 2] = [Len::Exact(4), Len::Nest(TupleView::check)];

/// A borrowed `CTA_EXPECT_NAT` nest.
#[derive(Debug, Clone, Copy)]
pub struct ExpNatView<'a> {
    t: Table<'a, 2>,
}

impl<'a> ExpNatView<'a> {
    /// Validates the nest.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        Ok(ExpNatView {
            t: Table::parse(bytes, CTA_EXPECT_NAT, &NAT_SPEC)?,
        })
    }

    fn check(bytes: &[u8]) -> Result<()> {
        ExpNatView::new_checked(bytes).map(|_| ())
    }

    /// Returns the NAT direction (`CTA_EXPECT_NAT_DIR`, big-endian; 0 original, 1 reply).
    pub fn dir(&self) -> Option<u32> {
        self.t.get(CTA_EXPECT_NAT_DIR).and_then(be_u32)
    }

    /// Returns the NAT tuple (`CTA_EXPECT_NAT_TUPLE`).
    pub fn tuple(&self) -> Option<TupleView<'a>> {
        self.t
            .get(CTA_EXPECT_NAT_TUPLE)
            .and_then(|p| TupleView::new_checked(p).ok())
    }
}

const SPEC: [Len; CTA_EXPECT_MAX as usize] = [
    Len::Nest(TupleView::check),  // MASTER
    Len::Nest(TupleView::check),  // TUPLE
    Len::Nest(TupleView::check),  // MASK
    Len::Exact(4),                // TIMEOUT
    Len::Exact(4),                // ID
    Len::Str,                     // HELP_NAME
    Len::Exact(2),                // ZONE
    Len::Exact(4),                // FLAGS
    Len::Exact(4),                // CLASS
    Len::Nest(ExpNatView::check), // NAT
    Len::Str,                     // FN
];

/// A borrowed expectation: the attributes of one `IPCTNL_MSG_EXP_*` message.
///
/// ```
/// use conntrack_wire::{Messages, MessageKind};
/// let dump = include_bytes!("../../tests/fixtures/dump_exp.bin");
/// let exp = Messages::new(dump)
///     .filter_map(Result::ok)
///     .find(|m| matches!(m.kind(), MessageKind::Expect(_)))
///     .unwrap()
///     .exp()
///     .unwrap();
/// assert_eq!(exp.helper_name(), Some("ftp"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ExpView<'a> {
    t: Table<'a, { CTA_EXPECT_MAX as usize }>,
}

impl<'a> ExpView<'a> {
    /// Validates the attribute bytes of an expectation message (after the `nfgenmsg`).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        Ok(ExpView {
            t: Table::parse(bytes, 0, &SPEC)?,
        })
    }

    /// Returns the master connection's tuple (`CTA_EXPECT_MASTER`).
    pub fn master(&self) -> Option<TupleView<'a>> {
        self.t
            .get(CTA_EXPECT_MASTER)
            .and_then(|p| TupleView::new_checked(p).ok())
    }

    /// Returns the expected tuple (`CTA_EXPECT_TUPLE`).
    pub fn tuple(&self) -> Option<TupleView<'a>> {
        self.t
            .get(CTA_EXPECT_TUPLE)
            .and_then(|p| TupleView::new_checked(p).ok())
    }

    /// Returns the tuple mask (`CTA_EXPECT_MASK`).
    pub fn mask(&self) -> Option<TupleView<'a>> {
        self.t
            .get(CTA_EXPECT_MASK)
            .and_then(|p| TupleView::new_checked(p).ok())
    }

    /// Returns the remaining lifetime in seconds (`CTA_EXPECT_TIMEOUT`, big-endian).
    pub fn timeout(&self) -> Option<u32> {
        self.t.get(CTA_EXPECT_TIMEOUT).and_then(be_u32)
    }

    /// Returns the id (`CTA_EXPECT_ID`, big-endian).
    pub fn id(&self) -> Option<u32> {
        self.t.get(CTA_EXPECT_ID).and_then(be_u32)
    }

    /// Returns the helper name (`CTA_EXPECT_HELP_NAME`).
    pub fn helper_name(&self) -> Option<&'a str> {
        self.t.get(CTA_EXPECT_HELP_NAME).and_then(cstr)
    }

    /// Returns the zone (`CTA_EXPECT_ZONE`, big-endian).
    pub fn zone(&self) -> Option<u16> {
        self.t.get(CTA_EXPECT_ZONE).and_then(be_u16)
    }

    /// Returns the `NF_CT_EXPECT_*` flags (`CTA_EXPECT_FLAGS`, big-endian).
    pub fn flags(&self) -> Option<u32> {
        self.t.get(CTA_EXPECT_FLAGS).and_then(be_u32)
    }

    /// Returns the expectation class (`CTA_EXPECT_CLASS`, big-endian).
    pub fn class(&self) -> Option<u32> {
        self.t.get(CTA_EXPECT_CLASS).and_then(be_u32)
    }

    /// Returns the NAT part (`CTA_EXPECT_NAT`).
    pub fn nat(&self) -> Option<ExpNatView<'a>> {
        self.t
            .get(CTA_EXPECT_NAT)
            .and_then(|p| ExpNatView::new_checked(p).ok())
    }

    /// Returns the expectfn name (`CTA_EXPECT_FN`).
    pub fn expect_fn(&self) -> Option<&'a str> {
        self.t.get(CTA_EXPECT_FN).and_then(cstr)
    }

    /// Returns every attribute, known and unknown, in wire order.
    pub fn attrs(&self) -> Attrs<'a> {
        self.t.attrs()
    }

    /// Returns the attributes this version does not know.
    pub fn unknown(&self) -> impl Iterator<Item = crate::Attr<'a>> + 'a {
        self.t.unknown(CTA_EXPECT_MAX)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ExpView<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ExpView {{ tuple: {}, master: {}, id: {} }}",
            self.tuple(),
            self.master(),
            self.id()
        )
    }
}

#[cfg(feature = "alloc")]
pub use owned::{Exp, ExpNat};

#[cfg(feature = "alloc")]
mod owned {
    use super::*;
    use crate::ct::Tuple;
    use crate::emit::Emitter;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// An owned `CTA_EXPECT_NAT`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    #[non_exhaustive]
    pub struct ExpNat {
        /// `CTA_EXPECT_NAT_DIR`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub dir: Option<u32>,
        /// `CTA_EXPECT_NAT_TUPLE`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub tuple: Option<Tuple>,
    }

    /// An owned expectation (feature `alloc`); see [`ExpView`].
    #[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    #[non_exhaustive]
    pub struct Exp {
        /// `CTA_EXPECT_MASTER`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub master: Option<Tuple>,
        /// `CTA_EXPECT_TUPLE`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub tuple: Option<Tuple>,
        /// `CTA_EXPECT_MASK`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub mask: Option<Tuple>,
        /// `CTA_EXPECT_TIMEOUT`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub timeout: Option<u32>,
        /// `CTA_EXPECT_ID`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub id: Option<u32>,
        /// `CTA_EXPECT_HELP_NAME`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub helper_name: Option<String>,
        /// `CTA_EXPECT_ZONE`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub zone: Option<u16>,
        /// `CTA_EXPECT_FLAGS`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub flags: Option<u32>,
        /// `CTA_EXPECT_CLASS`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub class: Option<u32>,
        /// `CTA_EXPECT_NAT`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub nat: Option<ExpNat>,
        /// `CTA_EXPECT_FN`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub expect_fn: Option<String>,
        /// Attributes this version does not know: `(type, payload)`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
        pub unknown: Vec<(u16, Vec<u8>)>,
    }

    impl Exp {
        /// Builds the expectation an FTP `PORT` command makes: a connection from the master's
        /// server back to its client on `port`, from any source port, for `timeout` seconds.
        ///
        /// ```
        /// use conntrack_wire::{Conn, Exp};
        /// let master = Conn::tcp("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:21".parse().unwrap());
        /// let x = Exp::reverse_to_port(&master.tuple_orig.unwrap(), 50000, 60);
        /// let t = x.tuple.unwrap();
        /// assert_eq!((t.src, t.proto.dst_port), (Some("10.0.0.2".parse().unwrap()), Some(50000)));
        /// ```
        pub fn reverse_to_port(master: &Tuple, port: u16, timeout: u32) -> Self {
            let full = |a: Option<core::net::IpAddr>| {
                a.map(|a| match a {
                    core::net::IpAddr::V4(_) => {
                        core::net::IpAddr::V4(core::net::Ipv4Addr::BROADCAST)
                    }
                    core::net::IpAddr::V6(_) => {
                        core::net::IpAddr::V6(core::net::Ipv6Addr::from([0xff; 16]))
                    }
                })
            };
            let mut tuple = Tuple {
                src: master.dst,
                dst: master.src,
                ..Default::default()
            };
            tuple.proto.num = master.proto.num;
            tuple.proto.src_port = Some(0);
            tuple.proto.dst_port = Some(port);
            let mut mask = Tuple {
                src: full(master.dst),
                dst: full(master.src),
                ..Default::default()
            };
            mask.proto.num = master.proto.num;
            mask.proto.src_port = Some(0);
            mask.proto.dst_port = Some(0xffff);
            Exp {
                master: Some(*master),
                tuple: Some(tuple),
                mask: Some(mask),
                timeout: Some(timeout),
                ..Default::default()
            }
        }

        /// Copies every attribute out of a view.
        pub fn parse(v: &ExpView<'_>) -> Self {
            Exp {
                master: v.master().map(|t| Tuple::parse(&t)),
                tuple: v.tuple().map(|t| Tuple::parse(&t)),
                mask: v.mask().map(|t| Tuple::parse(&t)),
                timeout: v.timeout(),
                id: v.id(),
                helper_name: v.helper_name().map(Into::into),
                zone: v.zone(),
                flags: v.flags(),
                class: v.class(),
                nat: v.nat().map(|n| ExpNat {
                    dir: n.dir(),
                    tuple: n.tuple().map(|t| Tuple::parse(&t)),
                }),
                expect_fn: v.expect_fn().map(Into::into),
                unknown: v
                    .unknown()
                    .map(|a| (a.kind(), a.payload().into()))
                    .collect(),
            }
        }

        /// Emits every set field as attributes.
        pub fn emit(&self, e: &mut Emitter<'_>) {
            if let Some(t) = &self.master {
                t.emit_nest(e, CTA_EXPECT_MASTER);
            }
            if let Some(t) = &self.tuple {
                t.emit_nest(e, CTA_EXPECT_TUPLE);
            }
            if let Some(t) = &self.mask {
                t.emit_nest(e, CTA_EXPECT_MASK);
            }
            if let Some(v) = self.timeout {
                e.put_u32_be(CTA_EXPECT_TIMEOUT, v);
            }
            if let Some(v) = self.id {
                e.put_u32_be(CTA_EXPECT_ID, v);
            }
            if let Some(v) = &self.helper_name {
                e.put_str(CTA_EXPECT_HELP_NAME, v);
            }
            if let Some(v) = self.zone {
                e.put_u16_be(CTA_EXPECT_ZONE, v);
            }
            if let Some(v) = self.flags {
                e.put_u32_be(CTA_EXPECT_FLAGS, v);
            }
            if let Some(v) = self.class {
                e.put_u32_be(CTA_EXPECT_CLASS, v);
            }
            if let Some(n) = &self.nat {
                e.nest(CTA_EXPECT_NAT, |e| {
                    if let Some(d) = n.dir {
                        e.put_u32_be(CTA_EXPECT_NAT_DIR, d);
                    }
                    if let Some(t) = &n.tuple {
                        t.emit_nest(e, CTA_EXPECT_NAT_TUPLE);
                    }
                });
            }
            if let Some(v) = &self.expect_fn {
                e.put_str(CTA_EXPECT_FN, v);
            }
            for (k, v) in &self.unknown {
                e.put(*k, v);
            }
        }
    }
}
