//! The filter's types: criteria, the event filter and shards.

use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

/// One attribute's criterion: the event matches if its value equals any of `values`
/// (or, negated, none of them). An empty list means no criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<T> {
    /// Accepted values.
    pub values: Vec<T>,
    /// Accept the events whose value is none of `values` instead.
    pub negate: bool,
}

impl<T> Default for Match<T> {
    fn default() -> Self {
        Match {
            values: Vec::new(),
            negate: false,
        }
    }
}

impl<T> Match<T> {
    /// Matches any of `values`.
    pub fn any(values: impl IntoIterator<Item = T>) -> Self {
        Match {
            values: values.into_iter().collect(),
            negate: false,
        }
    }

    /// Matches none of `values`.
    pub fn none(values: impl IntoIterator<Item = T>) -> Self {
        Match {
            values: values.into_iter().collect(),
            negate: true,
        }
    }

    pub(super) fn active(&self) -> bool {
        !self.values.is_empty()
    }
}

/// An IPv4 network: address and prefix length.
pub type V4Net = (Ipv4Addr, u8);
/// An IPv6 network: address and prefix length.
pub type V6Net = (Ipv6Addr, u8);

/// An event filter; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Address family (`nfgen_family`: `AF_INET`, `AF_INET6`).
    pub family: Match<u8>,
    /// L4 protocol (original tuple).
    pub l4proto: Match<u8>,
    /// Original source, IPv4 events.
    pub orig_src_v4: Match<V4Net>,
    /// Original destination, IPv4 events.
    pub orig_dst_v4: Match<V4Net>,
    /// Reply source, IPv4 events.
    pub reply_src_v4: Match<V4Net>,
    /// Reply destination, IPv4 events.
    pub reply_dst_v4: Match<V4Net>,
    /// Original source, IPv6 events.
    pub orig_src_v6: Match<V6Net>,
    /// Original destination, IPv6 events.
    pub orig_dst_v6: Match<V6Net>,
    /// Reply source, IPv6 events.
    pub reply_src_v6: Match<V6Net>,
    /// Reply destination, IPv6 events.
    pub reply_dst_v6: Match<V6Net>,
    /// Original source port.
    pub orig_src_port: Match<u16>,
    /// Original destination port.
    pub orig_dst_port: Match<u16>,
    /// Reply source port.
    pub reply_src_port: Match<u16>,
    /// Reply destination port.
    pub reply_dst_port: Match<u16>,
    /// ICMP type (original tuple, IPv4 `CTA_PROTO_ICMP_TYPE` or IPv6 `CTA_PROTO_ICMPV6_TYPE`).
    pub icmp_type: Match<u8>,
    /// ICMP code (original tuple).
    pub icmp_code: Match<u8>,
    /// ICMP identifier (original tuple).
    pub icmp_id: Match<u16>,
    /// TCP state (`CTA_PROTOINFO_TCP_STATE`); events without it do not match.
    pub tcp_state: Match<u8>,
    /// Mark: `(value, mask)`, matching when `mark & mask == value & mask`; an event without
    /// `CTA_MARK` has mark 0.
    pub mark: Match<(u32, u32)>,
    /// Zone (`CTA_ZONE`); an event without it is in zone 0.
    pub zone: Match<u16>,
    /// Status bits: `(value, mask)`, matching when `status & mask == value & mask`
    /// (`CTA_STATUS`; an event without it has status 0).
    pub status: Match<(u32, u32)>,
    /// Security mark (`CTA_SECMARK`); an event without it has secmark 0.
    pub secmark: Match<u32>,
    /// Entry id (`CTA_ID`); an event without it has id 0.
    pub id: Match<u32>,
    /// L4 protocol of the reply tuple.
    pub reply_l4proto: Match<u8>,
    /// ICMP type of the reply tuple (ICMP or ICMPv6, whichever the event has).
    pub reply_icmp_type: Match<u8>,
    /// ICMP code of the reply tuple.
    pub reply_icmp_code: Match<u8>,
    /// ICMP identifier of the reply tuple.
    pub reply_icmp_id: Match<u16>,
    /// L4 protocol of the master tuple (`CTA_TUPLE_MASTER`, which only expected connections
    /// carry: the master-tuple criteria never match an event without it, unless negated).
    pub master_l4proto: Match<u8>,
    /// Master source, IPv4 events.
    pub master_src_v4: Match<V4Net>,
    /// Master destination, IPv4 events.
    pub master_dst_v4: Match<V4Net>,
    /// Master source, IPv6 events.
    pub master_src_v6: Match<V6Net>,
    /// Master destination, IPv6 events.
    pub master_dst_v6: Match<V6Net>,
    /// Master source port.
    pub master_src_port: Match<u16>,
    /// Master destination port.
    pub master_dst_port: Match<u16>,
    /// TCP flags of the original direction: `(value, mask)` on the flags byte of
    /// `CTA_PROTOINFO_TCP_FLAGS_ORIGINAL`, matching when `flags & mask == value & mask`;
    /// events without it do not match.
    pub tcp_flags_orig: Match<(u8, u8)>,
    /// TCP flags of the reply direction (`CTA_PROTOINFO_TCP_FLAGS_REPLY`), likewise.
    pub tcp_flags_reply: Match<(u8, u8)>,
    /// TCP window scale of the original direction; events without it do not match.
    pub tcp_wscale_orig: Match<u8>,
    /// TCP window scale of the reply direction.
    pub tcp_wscale_reply: Match<u8>,
    /// SCTP state (`CTA_PROTOINFO_SCTP_STATE`); events without it do not match.
    pub sctp_state: Match<u8>,
    /// SCTP verification tag of the original direction.
    pub sctp_vtag_orig: Match<u32>,
    /// SCTP verification tag of the reply direction.
    pub sctp_vtag_reply: Match<u32>,
    /// DCCP state (`CTA_PROTOINFO_DCCP_STATE`); events without it do not match.
    pub dccp_state: Match<u8>,
    /// DCCP role (`CTA_PROTOINFO_DCCP_ROLE`).
    pub dccp_role: Match<u8>,
    /// Timeout in seconds, as inclusive ranges `(low, high)` (an exact value is `(v, v)`);
    /// an event without `CTA_TIMEOUT` (a DESTROY) has timeout 0.
    pub timeout: Match<(u32, u32)>,
    /// Use count (`CTA_USE`), as inclusive ranges; a message without it has 0. The kernel
    /// sends `CTA_USE` in dumps only, so on an event stream every event reads 0.
    pub use_count: Match<(u32, u32)>,
    /// Label bits (0 to 127): matching when the event's `CTA_LABELS` has the bit set; an
    /// event without labels has none (a bit above 127 is [`super::BpfError::BadLabel`]).
    pub labels: Match<u16>,
    /// One share of the events, for reading a stream on several sockets and threads; see
    /// [`Shard`].
    pub shard: Option<Shard>,
}

/// One of `count` disjoint shares of the conntrack events: those whose entry id (`CTA_ID`)
/// modulo `count` is `index` (an event without an id counts as id 0). Every event of one
/// entry has the same id, so each entry's events stay in one share, in order; the shares
/// together hold every event exactly once. Events of other subsystems (expectations) all go
/// to share 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shard {
    /// How many shares there are (at least 1).
    pub count: u32,
    /// Which share this is (below `count`).
    pub index: u32,
}

impl Shard {
    /// Returns whether an entry with id `id` belongs to this share.
    #[inline]
    pub fn holds(&self, id: u32) -> bool {
        self.count != 0 && id % self.count == self.index
    }
}
