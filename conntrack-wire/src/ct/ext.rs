//! The parts of an owned entry that most entries never carry, kept out of line so that the
//! common entry stays small (feature `alloc`).

use super::*;
use crate::consts::*;
use crate::filter::Filter;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The rare attributes of an owned [`Conn`]: NAT ranges, sequence adjustment, synproxy,
/// helper, security context, the master tuple, the masks of a request and the attributes
/// this version does not know. Read them with [`Conn::ext`], set them with
/// [`Conn::ext_mut`]; an entry that carries none of them allocates nothing for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConnExt {
    /// `CTA_TUPLE_MASTER`.
    pub tuple_master: Option<Tuple>,
    /// `CTA_STATUS_MASK`.
    pub status_mask: Option<Status>,
    /// `CTA_HELP`.
    pub helper: Option<Helper>,
    /// `CTA_NAT_SRC`.
    pub nat_src: Option<Nat>,
    /// `CTA_NAT_DST`.
    pub nat_dst: Option<Nat>,
    /// `CTA_MARK_MASK`.
    pub mark_mask: Option<u32>,
    /// `CTA_SEQ_ADJ_ORIG`.
    pub seq_adj_orig: Option<SeqAdj>,
    /// `CTA_SEQ_ADJ_REPLY`.
    pub seq_adj_reply: Option<SeqAdj>,
    /// `CTA_SECMARK`.
    pub secmark: Option<u32>,
    /// `CTA_SECCTX` / `CTA_SECCTX_NAME`.
    pub secctx: Option<String>,
    /// `CTA_TIMESTAMP_EVENT` of a DESTROY event (read and set it with
    /// [`Conn::timestamp_event`] and [`Conn::set_timestamp_event`]).
    pub(crate) timestamp_event: Option<u64>,
    /// `CTA_LABELS_MASK`, the bitmap (a longer one than [`Labels::MAX_LEN`], which no kernel
    /// sends, is kept in `unknown` instead, as is a longer `CTA_LABELS`).
    pub labels_mask: Option<Labels>,
    /// `CTA_SYNPROXY` unless it is all zeros (read and set it with [`Conn::synproxy`] and
    /// [`Conn::set_synproxy`]).
    pub(crate) synproxy: Option<Synproxy>,
    /// `CTA_FILTER`.
    pub filter: Option<Filter>,
    /// Attributes this version does not know: `(type, payload)` in wire order.
    pub unknown: Vec<(u16, Vec<u8>)>,
    /// `CTA_PROTOINFO` when it is not TCP state alone (which [`Conn`] keeps inline); read and
    /// set it with [`Conn::protoinfo`] and [`Conn::set_protoinfo`].
    pub(crate) protoinfo: Option<ProtoInfo>,
}

/// The extension that an entry without one reads as.
static EMPTY: ConnExt = ConnExt {
    tuple_master: None,
    status_mask: None,
    helper: None,
    nat_src: None,
    nat_dst: None,
    mark_mask: None,
    seq_adj_orig: None,
    seq_adj_reply: None,
    secmark: None,
    secctx: None,
    timestamp_event: None,
    labels_mask: None,
    synproxy: None,
    filter: None,
    unknown: Vec::new(),
    protoinfo: None,
};

impl ConnExt {
    /// The attribute kinds the extension holds (besides `CTA_PROTOINFO` of SCTP or DCCP, a
    /// `CTA_SYNPROXY` that is not all zeros, the `CTA_TIMESTAMP_EVENT` of an event that has a
    /// stop time, and the unknown attributes): a view that has none of them parses into an entry that
    /// allocates no extension.
    pub const KINDS: [u16; 12] = [
        CTA_TUPLE_MASTER,
        CTA_STATUS_MASK,
        CTA_HELP,
        CTA_NAT_SRC,
        CTA_NAT_DST,
        CTA_MARK_MASK,
        CTA_SEQ_ADJ_ORIG,
        CTA_SEQ_ADJ_REPLY,
        CTA_SECMARK,
        CTA_SECCTX,
        CTA_LABELS_MASK,
        CTA_FILTER,
    ];
}

/// An optional boxed [`ConnExt`] that compares, hashes and prints as the extension it reads
/// as: no box and a box of nothing are the same entry.
#[derive(Clone, Default)]
pub(crate) struct Ext(Option<Box<ConnExt>>);

impl Ext {
    /// The extension, or an empty one.
    #[inline]
    pub(crate) fn get(&self) -> &ConnExt {
        self.0.as_deref().unwrap_or(&EMPTY)
    }

    /// The extension, allocated on first use.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut ConnExt {
        self.0.get_or_insert_with(Box::default)
    }

    /// Whether an extension is allocated.
    #[inline]
    pub(crate) fn is_allocated(&self) -> bool {
        self.0.is_some()
    }

    /// The extension by value (an empty one when none is allocated).
    #[inline]
    pub(crate) fn into_inner(self) -> Box<ConnExt> {
        self.0.unwrap_or_default()
    }

    /// Wraps a parsed extension.
    #[inline]
    pub(crate) fn new(ext: ConnExt) -> Self {
        Ext(Some(Box::new(ext)))
    }
}

impl PartialEq for Ext {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Ext {}

impl core::hash::Hash for Ext {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.get().hash(state)
    }
}

impl core::fmt::Debug for Ext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn no_extension_and_an_empty_one_are_equal_and_hash_alike() {
        use core::hash::BuildHasher;
        let (none, empty) = (Ext::default(), Ext::new(ConnExt::default()));
        assert_eq!(none, empty);
        let s = std::hash::RandomState::new();
        let h = |e: &Ext| s.hash_one(e);
        assert_eq!(h(&none), h(&empty));
        let mut marked = Ext::default();
        marked.get_mut().mark_mask = Some(1);
        assert!(marked.is_allocated());
        assert_ne!(marked, none);
    }
}
