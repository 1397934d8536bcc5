//! The conntrack entry: every top-level `CTA_*` attribute of a ctnetlink message.

use super::*;
use crate::attr::{Attrs, be_u16, be_u32, be_u64};
use crate::consts::*;
use crate::error::Result;
use crate::filter::FilterView;
use crate::shape::Shapes;
use crate::table::{Len, Schema, Table, index_nests};

// Slots of the nests every consumer reads, indexed in place during the one walk so that
// their getters are plain copies: after the 27 top-level slots, each nest's own run.
const ORIG: usize = CTA_MAX as usize;
const REPLY: usize = ORIG + tuple::TUPLE_SLOTS;
const PROTOINFO: usize = REPLY + tuple::TUPLE_SLOTS;
const COUNTERS_ORIG: usize = PROTOINFO + protoinfo::SLOTS;
const COUNTERS_REPLY: usize = COUNTERS_ORIG + 5;
const TIMESTAMP: usize = COUNTERS_REPLY + 5;
const SEQ_ADJ_ORIG: usize = TIMESTAMP + 3;
const SEQ_ADJ_REPLY: usize = SEQ_ADJ_ORIG + 3;
const SYNPROXY: usize = SEQ_ADJ_REPLY + 3;
const N: usize = SYNPROXY + 3;

/// The conntrack message's top level, with the hot nests indexed in place.
struct ConnSchema;

impl Schema for ConnSchema {
    const RULES: &'static [Len] = &SPEC;
    const SLOTS: usize = N;

    index_nests! {
        CTA_TUPLE_ORIG => tuple::TupleSchema, at ORIG;
        CTA_TUPLE_REPLY => tuple::TupleSchema, at REPLY;
        CTA_PROTOINFO => protoinfo::ProtoInfoSchema, at PROTOINFO;
        CTA_COUNTERS_ORIG => CountersView, at COUNTERS_ORIG;
        CTA_COUNTERS_REPLY => CountersView, at COUNTERS_REPLY;
        CTA_TIMESTAMP => TimestampView, at TIMESTAMP;
        CTA_SEQ_ADJ_ORIG => SeqAdjView, at SEQ_ADJ_ORIG;
        CTA_SEQ_ADJ_REPLY => SeqAdjView, at SEQ_ADJ_REPLY;
        CTA_SYNPROXY => SynproxyView, at SYNPROXY;
    }
}

const SPEC: [Len; CTA_MAX as usize] = [
    Len::Index,                   // CTA_TUPLE_ORIG
    Len::Index,                   // CTA_TUPLE_REPLY
    Len::Exact(4),                // CTA_STATUS
    Len::Index,                   // CTA_PROTOINFO
    Len::Nest(HelperView::check), // CTA_HELP
    Len::Nest(NatView::check),    // CTA_NAT_SRC
    Len::Exact(4),                // CTA_TIMEOUT
    Len::Exact(4),                // CTA_MARK
    Len::Index,                   // CTA_COUNTERS_ORIG
    Len::Index,                   // CTA_COUNTERS_REPLY
    Len::Exact(4),                // CTA_USE
    Len::Exact(4),                // CTA_ID
    Len::Nest(NatView::check),    // CTA_NAT_DST
    Len::Nest(TupleView::check),  // CTA_TUPLE_MASTER
    Len::Index,                   // CTA_SEQ_ADJ_ORIG
    Len::Index,                   // CTA_SEQ_ADJ_REPLY
    Len::Exact(4),                // CTA_SECMARK
    Len::Exact(2),                // CTA_ZONE
    Len::Nest(SecCtxView::check), // CTA_SECCTX
    Len::Index,                   // CTA_TIMESTAMP
    Len::Exact(4),                // CTA_MARK_MASK
    Len::Any,                     // CTA_LABELS
    Len::Any,                     // CTA_LABELS_MASK
    Len::Index,                   // CTA_SYNPROXY
    Len::Nest(FilterView::check), // CTA_FILTER
    Len::Exact(4),                // CTA_STATUS_MASK
    Len::Exact(8),                // CTA_TIMESTAMP_EVENT
];

/// A borrowed conntrack entry: the attributes of one `IPCTNL_MSG_CT_*` message after its
/// `nfgenmsg` (a dump entry, a get reply, an event, or a request).
///
/// [`ConnView::new_checked`] walks every attribute and every nest once and checks every
/// known length; afterwards no getter can panic, and each returns `None` when its attribute
/// is absent. Unknown attributes are kept: see [`ConnView::attrs`] and [`ConnView::unknown`].
///
/// ```
/// use conntrack_wire::{Messages, MessageKind};
/// let dump = include_bytes!("../../tests/fixtures/dump_ct.bin");
/// let mut n = 0;
/// for msg in Messages::new(dump) {
///     let msg = msg.unwrap();
///     if let MessageKind::Conntrack(_) = msg.kind() {
///         let ct = msg.conn().unwrap();
///         let orig = ct.tuple_orig().unwrap();
///         assert!(orig.src().is_some() && orig.proto_num().is_some());
///         n += 1;
///     }
/// }
/// assert!(n > 0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConnView<'a> {
    t: Table<'a, N>,
}

/// How many message layouts a [`ConnDecoder`] remembers.
const LAYOUTS: usize = 8;

/// A stateful decoder of conntrack messages: it remembers the layouts of recent messages it
/// walked, so that a message laid out like one of them is validated without a walk
/// ([`ConnDecoder::conn`] for a message, [`ConnDecoder::view`] for attribute bytes).
///
/// The kernel lays out the entries of one kind identically (an IPv4 UDP entry with counters
/// and labels has the same attributes, of the same lengths, at the same offsets, as the next
/// one). A walk validates a message attribute by attribute, each offset depending on the
/// previous attribute's length; a message of a remembered layout is instead recognised by
/// comparing its attribute headers with the remembered ones, independent loads that the
/// processor overlaps. The view is the same either way: equal headers make the walk read
/// the same offsets, check the same lengths and index the same slots (nests validated by
/// content, such as NAT and helper nests, are checked again).
///
/// A layout is remembered the second time a message of its length has to be walked (so a
/// stream whose layouts never repeat records nothing), up to eight, the oldest replaced
/// first. Keep one `ConnDecoder` per stream of messages (a dump, an event socket) and reuse
/// it; for a one-off message, [`ConnView::new_checked`] is cheaper. About 5 KiB once filled,
/// no allocation.
///
/// ```
/// use conntrack_wire::{ConnDecoder, ConnView, MessageKind, Messages};
/// let dump = include_bytes!("../../tests/fixtures/dump_ct.bin");
/// let mut decoder = ConnDecoder::new();
/// for msg in Messages::new(dump) {
///     let msg = msg?;
///     if let MessageKind::Conntrack(_) = msg.kind() {
///         let walked = msg.conn()?;
///         let ct = decoder.conn(&msg)?;
///         assert_eq!(ct.mark(), walked.mark());
///     }
/// }
/// # Ok::<(), conntrack_wire::Error>(())
/// ```
#[derive(Clone)]
pub struct ConnDecoder {
    shapes: Shapes<N, LAYOUTS>,
}

impl ConnDecoder {
    /// Remembers no layout yet.
    pub const fn new() -> Self {
        ConnDecoder {
            shapes: Shapes::new(),
        }
    }

    /// Views a conntrack message like [`Message::conn`](crate::Message::conn) (the same view,
    /// the same errors), without a walk when it is laid out like a remembered message.
    #[inline]
    pub fn conn<'a>(&mut self, m: &crate::Message<'a>) -> Result<ConnView<'a>> {
        m.conn_remembered(self)
    }

    /// Validates the attribute bytes of a conntrack message like [`ConnView::new_checked`]
    /// (the same view, the same errors), without a walk when they are laid out like a
    /// remembered message.
    #[inline(always)]
    pub fn view<'a>(&mut self, bytes: &'a [u8]) -> Result<ConnView<'a>> {
        ConnView::new_remembered(bytes, self)
    }
}

impl Default for ConnDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for ConnDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnDecoder").finish_non_exhaustive()
    }
}

/// The getters of [`ConnView`], one line each: `name -> Type = how(CTA_*, ...)`, where `how`
/// is `sub` (a nest indexed with the entry), `checked` (a nest validated on access), `raw`
/// (bytes wrapped as they are), `be_u16`/`be_u32`/`be_u64` (a big-endian integer of the
/// given length) or `status` (status bits).
macro_rules! getters {
    ($($(#[$m:meta])* $name:ident -> $ty:ty = $how:ident($($arg:tt)*);)*) => {
        $(
            $(#[$m])*
            #[inline]
            pub fn $name(&self) -> Option<$ty> {
                getters!(@ self, $how($($arg)*))
            }
        )*
    };
    (@ $s:ident, sub($cta:expr, $slot:expr, $view:ident)) => {
        $s.t.sub(usize::from($cta) - 1, $slot).map($view::from_table)
    };
    (@ $s:ident, checked($cta:expr, $view:ident)) => {
        $s.t.get($cta).and_then(|p| $view::new_checked(p).ok())
    };
    (@ $s:ident, raw($cta:expr, $view:ident)) => {
        $s.t.get($cta).map($view::new)
    };
    (@ $s:ident, status($cta:expr, $len:expr)) => {
        $s.t.get_exact($cta, $len).and_then(be_u32).map(Status)
    };
    (@ $s:ident, $be:ident($cta:expr, $len:expr)) => {
        $s.t.get_exact($cta, $len).and_then($be)
    };
}

impl<'a> ConnView<'a> {
    /// Validates the attribute bytes of a conntrack message (after the `nfgenmsg`).
    #[inline(always)]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        Table::parse_nested::<ConnSchema>(bytes, 0).map(|t| ConnView { t })
    }

    /// Like [`ConnView::new_checked`] (the same view, the same errors), without a walk when
    /// `bytes` are laid out like a message `layouts` remembers; see [`ConnDecoder`] for
    /// which walked messages are remembered.
    #[inline(always)]
    pub(crate) fn new_remembered(bytes: &'a [u8], layouts: &mut ConnDecoder) -> Result<Self> {
        Table::parse_shaped::<ConnSchema, LAYOUTS>(bytes, 0, &mut layouts.shapes)
            .map(|t| ConnView { t })
    }

    getters! {
        /// Returns the original-direction tuple (`CTA_TUPLE_ORIG`).
        tuple_orig -> TupleView<'a> = sub(CTA_TUPLE_ORIG, ORIG, TupleView);
        /// Returns the reply-direction tuple (`CTA_TUPLE_REPLY`).
        tuple_reply -> TupleView<'a> = sub(CTA_TUPLE_REPLY, REPLY, TupleView);
        /// Returns the master connection's tuple (`CTA_TUPLE_MASTER`), for expected connections.
        tuple_master -> TupleView<'a> = checked(CTA_TUPLE_MASTER, TupleView);
        /// Returns the status bits (`CTA_STATUS`, big-endian on the wire).
        status -> Status = status(CTA_STATUS, 4);
        /// Returns the status mask of a filtered request (`CTA_STATUS_MASK`).
        status_mask -> Status = status(CTA_STATUS_MASK, 4);
        /// Returns the protocol state (`CTA_PROTOINFO`).
        protoinfo -> ProtoInfoView<'a> = sub(CTA_PROTOINFO, PROTOINFO, ProtoInfoView);
        /// Returns the helper (`CTA_HELP`).
        helper -> HelperView<'a> = checked(CTA_HELP, HelperView);
        /// Returns the source NAT range (`CTA_NAT_SRC`, requests only).
        nat_src -> NatView<'a> = checked(CTA_NAT_SRC, NatView);
        /// Returns the destination NAT range (`CTA_NAT_DST`, requests only).
        nat_dst -> NatView<'a> = checked(CTA_NAT_DST, NatView);
        /// Returns the remaining lifetime in seconds (`CTA_TIMEOUT`, big-endian).
        timeout -> u32 = be_u32(CTA_TIMEOUT, 4);
        /// Returns the mark (`CTA_MARK`, big-endian).
        mark -> u32 = be_u32(CTA_MARK, 4);
        /// Returns the mark mask of a request (`CTA_MARK_MASK`, big-endian).
        mark_mask -> u32 = be_u32(CTA_MARK_MASK, 4);
        /// Returns the original-direction counters (`CTA_COUNTERS_ORIG`).
        counters_orig -> CountersView<'a> = sub(CTA_COUNTERS_ORIG, COUNTERS_ORIG, CountersView);
        /// Returns the reply-direction counters (`CTA_COUNTERS_REPLY`).
        counters_reply -> CountersView<'a> = sub(CTA_COUNTERS_REPLY, COUNTERS_REPLY, CountersView);
        /// Returns the reference count (`CTA_USE`, big-endian).
        use_count -> u32 = be_u32(CTA_USE, 4);
        /// Returns the entry id (`CTA_ID`, big-endian).
        id -> u32 = be_u32(CTA_ID, 4);
        /// Returns the original-direction sequence adjustment (`CTA_SEQ_ADJ_ORIG`).
        seq_adj_orig -> SeqAdjView<'a> = sub(CTA_SEQ_ADJ_ORIG, SEQ_ADJ_ORIG, SeqAdjView);
        /// Returns the reply-direction sequence adjustment (`CTA_SEQ_ADJ_REPLY`).
        seq_adj_reply -> SeqAdjView<'a> = sub(CTA_SEQ_ADJ_REPLY, SEQ_ADJ_REPLY, SeqAdjView);
        /// Returns the security mark (`CTA_SECMARK`, big-endian; obsolete, still parsed).
        secmark -> u32 = be_u32(CTA_SECMARK, 4);
        /// Returns the zone (`CTA_ZONE`, big-endian).
        zone -> u16 = be_u16(CTA_ZONE, 2);
        /// Returns the security context (`CTA_SECCTX`).
        secctx -> SecCtxView<'a> = checked(CTA_SECCTX, SecCtxView);
        /// Returns the start and stop timestamps (`CTA_TIMESTAMP`).
        timestamp -> TimestampView<'a> = sub(CTA_TIMESTAMP, TIMESTAMP, TimestampView);
        /// Returns the event timestamp in ns (`CTA_TIMESTAMP_EVENT`, Linux 6.14+, big-endian).
        timestamp_event -> u64 = be_u64(CTA_TIMESTAMP_EVENT, 8);
        /// Returns the label bitmap (`CTA_LABELS`).
        labels -> LabelsView<'a> = raw(CTA_LABELS, LabelsView);
        /// Returns the label mask of a request (`CTA_LABELS_MASK`).
        labels_mask -> LabelsView<'a> = raw(CTA_LABELS_MASK, LabelsView);
        /// Returns the SYN proxy state (`CTA_SYNPROXY`).
        synproxy -> SynproxyView<'a> = sub(CTA_SYNPROXY, SYNPROXY, SynproxyView);
        /// Returns the kernel-side filter of a dump or flush request (`CTA_FILTER`).
        filter -> FilterView<'a> = checked(CTA_FILTER, FilterView);
    }

    /// Returns every attribute, known and unknown, in wire order.
    #[inline]
    pub fn attrs(&self) -> Attrs<'a> {
        self.t.attrs()
    }

    /// Returns the attributes this version does not know (type 0 or above `CTA_MAX`).
    #[inline]
    pub fn unknown(&self) -> impl Iterator<Item = crate::Attr<'a>> + 'a {
        self.t.unknown(CTA_MAX)
    }

    /// Returns whether attribute `kind` is present.
    #[inline]
    pub fn has(&self, kind: u16) -> bool {
        self.t.has(kind)
    }

    /// Returns the raw attribute bytes.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.t.bytes()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ConnView<'_> {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ConnView {{ orig: {}, reply: {}, id: {}, mark: {}, zone: {}, status: {} }}",
            self.tuple_orig(),
            self.tuple_reply(),
            self.id(),
            self.mark(),
            self.zone(),
            self.status()
        )
    }
}

#[cfg(feature = "alloc")]
pub use owned::Conn;

#[cfg(feature = "alloc")]
mod owned {
    use super::*;
    use crate::emit::Emitter;
    use crate::filter::Filter;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// An owned conntrack entry (feature `alloc`); see [`ConnView`].
    ///
    /// Every field mirrors one `CTA_*` attribute; `unknown` keeps attributes this version does
    /// not know, so that nothing the kernel sent is lost.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    #[non_exhaustive]
    pub struct Conn {
        /// `CTA_TUPLE_ORIG`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub tuple_orig: Option<Tuple>,
        /// `CTA_TUPLE_REPLY`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub tuple_reply: Option<Tuple>,
        /// `CTA_TUPLE_MASTER`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub tuple_master: Option<Tuple>,
        /// `CTA_STATUS`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub status: Option<Status>,
        /// `CTA_STATUS_MASK`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub status_mask: Option<Status>,
        /// `CTA_PROTOINFO`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub protoinfo: Option<ProtoInfo>,
        /// `CTA_HELP`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub helper: Option<Helper>,
        /// `CTA_NAT_SRC`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub nat_src: Option<Nat>,
        /// `CTA_NAT_DST`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub nat_dst: Option<Nat>,
        /// `CTA_TIMEOUT`, seconds.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub timeout: Option<u32>,
        /// `CTA_MARK`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub mark: Option<u32>,
        /// `CTA_MARK_MASK`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub mark_mask: Option<u32>,
        /// `CTA_COUNTERS_ORIG`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub counters_orig: Option<Counters>,
        /// `CTA_COUNTERS_REPLY`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub counters_reply: Option<Counters>,
        /// `CTA_USE`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub use_count: Option<u32>,
        /// `CTA_ID`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub id: Option<u32>,
        /// `CTA_SEQ_ADJ_ORIG`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub seq_adj_orig: Option<SeqAdj>,
        /// `CTA_SEQ_ADJ_REPLY`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub seq_adj_reply: Option<SeqAdj>,
        /// `CTA_SECMARK`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub secmark: Option<u32>,
        /// `CTA_ZONE`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub zone: Option<u16>,
        /// `CTA_SECCTX` / `CTA_SECCTX_NAME`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub secctx: Option<String>,
        /// `CTA_TIMESTAMP`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub timestamp: Option<Timestamp>,
        /// `CTA_TIMESTAMP_EVENT`, ns.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub timestamp_event: Option<u64>,
        /// `CTA_LABELS`, the bitmap (a longer one than [`Labels::MAX_LEN`], which no kernel
        /// sends, is kept in `unknown` instead).
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub labels: Option<Labels>,
        /// `CTA_LABELS_MASK`, the bitmap (likewise).
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub labels_mask: Option<Labels>,
        /// `CTA_SYNPROXY`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub synproxy: Option<Synproxy>,
        /// `CTA_FILTER`.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        pub filter: Option<Filter>,
        /// Attributes this version does not know: `(type, payload)` in wire order.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
        pub unknown: Vec<(u16, Vec<u8>)>,
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

        /// Copies every attribute out of a view.
        #[inline]
        pub fn parse(v: &ConnView<'_>) -> Self {
            let mut unknown: Vec<(u16, Vec<u8>)> = v
                .unknown()
                .map(|a| (a.kind(), a.payload().into()))
                .collect();
            let mut labels = |kind: u16, l: Option<LabelsView<'_>>| {
                let l = l?;
                let owned = Labels::from_bytes(l.bytes());
                if owned.is_none() {
                    unknown.push((kind, l.bytes().into()));
                }
                owned
            };
            let (labels, labels_mask) = (
                labels(CTA_LABELS, v.labels()),
                labels(CTA_LABELS_MASK, v.labels_mask()),
            );
            Conn {
                tuple_orig: v.tuple_orig().map(|t| Tuple::parse(&t)),
                tuple_reply: v.tuple_reply().map(|t| Tuple::parse(&t)),
                tuple_master: v.tuple_master().map(|t| Tuple::parse(&t)),
                status: v.status(),
                status_mask: v.status_mask(),
                protoinfo: v.protoinfo().map(|p| ProtoInfo::parse(&p)),
                helper: v.helper().map(|h| Helper::parse(&h)),
                nat_src: v.nat_src().map(|n| Nat::parse(&n)),
                nat_dst: v.nat_dst().map(|n| Nat::parse(&n)),
                timeout: v.timeout(),
                mark: v.mark(),
                mark_mask: v.mark_mask(),
                counters_orig: v.counters_orig().map(|c| Counters::parse(&c)),
                counters_reply: v.counters_reply().map(|c| Counters::parse(&c)),
                use_count: v.use_count(),
                id: v.id(),
                seq_adj_orig: v.seq_adj_orig().map(|s| SeqAdj::parse(&s)),
                seq_adj_reply: v.seq_adj_reply().map(|s| SeqAdj::parse(&s)),
                secmark: v.secmark(),
                zone: v.zone(),
                secctx: v.secctx().and_then(|s| s.name()).map(Into::into),
                timestamp: v.timestamp().map(|t| Timestamp::parse(&t)),
                timestamp_event: v.timestamp_event(),
                labels,
                labels_mask,
                synproxy: v.synproxy().map(|s| Synproxy::parse(&s)),
                filter: v.filter().map(|f| Filter::parse(&f)),
                unknown,
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
            let p = self.protoinfo.get_or_insert_with(ProtoInfo::default);
            p.tcp.get_or_insert_with(TcpInfo::default).state = Some(state.into());
            self
        }

        /// Sets the SCTP state and verification tags (given in host order, sent big-endian).
        #[inline]
        pub fn with_sctp(mut self, state: SctpState, vtag_original: u32, vtag_reply: u32) -> Self {
            let p = self.protoinfo.get_or_insert_with(ProtoInfo::default);
            p.sctp = Some(SctpInfo {
                state: Some(state.into()),
                vtag_original: Some(vtag_original),
                vtag_reply: Some(vtag_reply),
            });
            self
        }

        /// Sets connection labels (numbers 0 to 127) as a 16-byte bitmap, with the mask covering
        /// them.
        #[inline]
        pub fn with_labels(mut self, labels: &[usize]) -> Self {
            let bits = Labels::from_labels(labels);
            self.labels_mask = Some(bits);
            self.labels = Some(bits);
            self
        }

        /// Sets the helper by name (the kernel must know it, e.g. `ftp`).
        #[inline]
        pub fn with_helper(mut self, name: &str) -> Self {
            self.helper = Some(Helper {
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
            if let Some(t) = &self.tuple_orig {
                t.emit_nest(e, CTA_TUPLE_ORIG);
            }
            if let Some(t) = &self.tuple_reply {
                t.emit_nest(e, CTA_TUPLE_REPLY);
            }
            if let Some(t) = &self.tuple_master {
                t.emit_nest(e, CTA_TUPLE_MASTER);
            }
            if let Some(z) = self.zone {
                e.put_u16_be(CTA_ZONE, z);
            }
            if let Some(s) = self.status {
                e.put_u32_be(CTA_STATUS, s.0);
            }
            if let Some(s) = self.status_mask {
                e.put_u32_be(CTA_STATUS_MASK, s.0);
            }
            if let Some(t) = self.timeout {
                e.put_u32_be(CTA_TIMEOUT, t);
            }
            if let Some(m) = self.mark {
                e.put_u32_be(CTA_MARK, m);
            }
            if let Some(m) = self.mark_mask {
                e.put_u32_be(CTA_MARK_MASK, m);
            }
            if let Some(c) = &self.counters_orig {
                c.emit_nest(e, CTA_COUNTERS_ORIG);
            }
            if let Some(c) = &self.counters_reply {
                c.emit_nest(e, CTA_COUNTERS_REPLY);
            }
            if let Some(t) = &self.timestamp {
                t.emit_nest(e, CTA_TIMESTAMP);
            }
            if let Some(p) = &self.protoinfo {
                p.emit_nest(e, CTA_PROTOINFO);
            }
            if let Some(h) = &self.helper {
                h.emit_nest(e, CTA_HELP);
            }
            if let Some(n) = &self.nat_src {
                n.emit_nest(e, CTA_NAT_SRC);
            }
            if let Some(n) = &self.nat_dst {
                n.emit_nest(e, CTA_NAT_DST);
            }
            if let Some(s) = self.secmark {
                e.put_u32_be(CTA_SECMARK, s);
            }
            if let Some(s) = &self.secctx {
                e.nest(CTA_SECCTX, |e| e.put_str(CTA_SECCTX_NAME, s));
            }
            if let Some(u) = self.use_count {
                e.put_u32_be(CTA_USE, u);
            }
            if let Some(i) = self.id {
                e.put_u32_be(CTA_ID, i);
            }
            if let Some(l) = &self.labels {
                e.put(CTA_LABELS, l);
            }
            if let Some(l) = &self.labels_mask {
                e.put(CTA_LABELS_MASK, l);
            }
            if let Some(s) = &self.seq_adj_orig {
                s.emit_nest(e, CTA_SEQ_ADJ_ORIG);
            }
            if let Some(s) = &self.seq_adj_reply {
                s.emit_nest(e, CTA_SEQ_ADJ_REPLY);
            }
            if let Some(s) = &self.synproxy {
                s.emit_nest(e, CTA_SYNPROXY);
            }
            if let Some(f) = &self.filter {
                f.emit_nest(e);
            }
            if let Some(t) = self.timestamp_event {
                e.put_u64_be(CTA_TIMESTAMP_EVENT, t);
            }
            for (k, v) in &self.unknown {
                e.put(*k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageKind, Messages};

    /// Messages of the captured events share layouts (entries of one kind, events of one
    /// type): a good part of them must be recognised without a walk, and a message walked
    /// twice must be remembered (otherwise the layouts do nothing).
    #[test]
    fn repeated_layouts_are_recognised() {
        let events = include_bytes!("../../tests/fixtures/events.bin");
        let mut layouts = ConnDecoder::new();
        let (mut seen, mut found) = (0, 0);
        for m in Messages::new(events).flatten() {
            if let MessageKind::Conntrack(_) = m.kind() {
                let p = m.payload().get(4..).unwrap_or(&[]);
                found += usize::from(layouts.shapes.find(p).is_some());
                assert!(layouts.view(p).is_ok());
                // A layout is recorded the second time a message of its length is walked.
                assert!(layouts.view(p).is_ok());
                assert!(
                    layouts.shapes.find(p).is_some(),
                    "a walked message is remembered"
                );
                seen += 1;
            }
        }
        assert!(
            seen > 40 && found * 4 > seen,
            "{found} of {seen} recognised"
        );
    }
}
