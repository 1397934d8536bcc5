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
