//! Request builders: every request ctnetlink accepts, written into a caller's buffer.
//!
//! Each builder appends one complete message to an [`Emitter`]; several builders on one
//! emitter frame several requests back to back, ready for a single `sendmsg`. A short buffer
//! is reported by [`Emitter::finish`], never a panic.
//!
//! ```
//! use conntrack_wire::request::{self, DumpFilter};
//! use conntrack_wire::{consts::AF_INET, Emitter};
//! let mut buf = [0u8; 256];
//! let mut e = Emitter::new(&mut buf);
//! request::ct_dump(&mut e, 1, AF_INET, &DumpFilter { mark: Some((0x10, 0xff)), ..Default::default() });
//! request::ct_stats(&mut e, 2);
//! let len = e.finish().unwrap();
//! assert_eq!(len, 20 + 16 + 20);
//! ```

use crate::consts::*;
use crate::ct::{Status, Tuple};
use crate::emit::Emitter;
use crate::filter::{Filter, filter_flags_for};

const fn ct(op: u8) -> u16 {
    ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | op as u16
}
const fn exp(op: u8) -> u16 {
    ((NFNL_SUBSYS_CTNETLINK_EXP as u16) << 8) | op as u16
}

const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;
const DO: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// A get asks for no ACK: its one reply, or an `NLMSG_ERROR` (which the kernel sends for a
/// failure whether asked or not), ends the exchange, so the caller reads one datagram.
const GET: u16 = NLM_F_REQUEST;

/// Which tuple of an entry a key names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Dir {
    /// `CTA_TUPLE_ORIG`.
    #[default]
    Orig,
    /// `CTA_TUPLE_REPLY`.
    Reply,
}

impl Dir {
    /// Returns the attribute type of the tuple in this direction.
    pub fn attr(self) -> u16 {
        match self {
            Dir::Orig => CTA_TUPLE_ORIG,
            Dir::Reply => CTA_TUPLE_REPLY,
        }
    }
}

/// Names one entry for get and delete: a full tuple in one direction, with its zone, and
/// optionally the id the entry must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Key {
    /// The tuple (addresses, protocol, ports or ICMP fields).
    pub tuple: Tuple,
    /// Which direction the tuple is.
    pub dir: Dir,
    /// The zone (`CTA_ZONE`); the default zone 0 when `None`.
    pub zone: Option<u16>,
    /// The id the entry must have (`CTA_ID`), checked by the kernel after the lookup.
    pub id: Option<u32>,
}

impl From<Tuple> for Key {
    /// The key of the entry whose original tuple is `t`, in the default zone (or the tuple's
    /// own per-direction zone), whatever its id.
    fn from(t: Tuple) -> Self {
        Key {
            tuple: t,
            ..Default::default()
        }
    }
}

/// Kernel-side filters of a dump. Each is ignored by kernels too old to know it (see
/// `conntrack` for the probing that refuses a filter the kernel would ignore).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DumpFilter {
    /// `CTA_MARK` and `CTA_MARK_MASK` (Linux 3.4+).
    pub mark: Option<(u32, u32)>,
    /// `CTA_STATUS` and `CTA_STATUS_MASK` (Linux 5.15+).
    pub status: Option<(Status, Status)>,
    /// `CTA_ZONE`: the entry's zone id, whichever directions the zone applies to (as the
    /// kernel compares it; Linux 6.8+ for dumps).
    pub zone: Option<u16>,
    /// Original-direction tuple fields to match, via `CTA_FILTER` (Linux 5.8+).
    pub orig: Option<Tuple>,
    /// Reply-direction tuple fields to match, via `CTA_FILTER` (Linux 5.8+).
    pub reply: Option<Tuple>,
    /// `CTA_FILTER_ZONE`: a hint that `zone` is meant even when it is the default zone 0
    /// (kernels that know this attribute refuse nothing else with it; those that do not
    /// refuse the request). `conntrack` evaluates the zone in user space either way and sends
    /// this only where the kernel knows it.
    pub filter_zone: bool,
}

/// Kernel-side filters of a flush (a `IPCTNL_MSG_CT_DELETE` without a tuple).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlushFilter {
    /// `CTA_MARK` and `CTA_MARK_MASK` (Linux 5.9+ for flush).
    pub mark: Option<(u32, u32)>,
    /// `CTA_STATUS` and `CTA_STATUS_MASK` (Linux 5.15+ for flush).
    pub status: Option<(Status, Status)>,
    /// `CTA_ZONE`: the entry's zone id, whichever directions it applies to (Linux 6.8+ for
    /// flush).
    pub zone: Option<u16>,
}

impl FlushFilter {
    /// Returns whether no filter is set (a flush of the whole table of the family).
    pub fn is_empty(&self) -> bool {
        *self == FlushFilter::default()
    }
}

fn put_mark_status_zone(
    e: &mut Emitter<'_>,
    mark: Option<(u32, u32)>,
    status: Option<(Status, Status)>,
    zone: Option<u16>,
) {
    if let Some((m, mask)) = mark {
        e.put_u32_be(CTA_MARK, m);
        e.put_u32_be(CTA_MARK_MASK, mask);
    }
    if let Some((s, mask)) = status {
        e.put_u32_be(CTA_STATUS, s.bits());
        e.put_u32_be(CTA_STATUS_MASK, mask.bits());
    }
    if let Some(z) = zone {
        e.put_u16_be(CTA_ZONE, z);
    }
}

fn dump_with(e: &mut Emitter<'_>, op: u8, seq: u32, family: u8, f: &DumpFilter) {
    let m = e.begin_message(ct(op), DUMP, seq, family, 0);
    put_mark_status_zone(e, f.mark, f.status, f.zone);
    if f.orig.is_some() || f.reply.is_some() || f.filter_zone {
        if let Some(t) = &f.orig {
            t.emit_nest(e, CTA_TUPLE_ORIG);
        }
        if let Some(t) = &f.reply {
            t.emit_nest(e, CTA_TUPLE_REPLY);
        }
        Filter {
            orig_flags: f.orig.as_ref().map(filter_flags_for),
            reply_flags: f.reply.as_ref().map(filter_flags_for),
            zone: f.filter_zone,
        }
        .emit_nest(e);
    }
    e.end_message(m);
}

/// Appends a conntrack dump request (`IPCTNL_MSG_CT_GET`, `NLM_F_DUMP`).
pub fn ct_dump(e: &mut Emitter<'_>, seq: u32, family: u8, filter: &DumpFilter) {
    dump_with(e, IPCTNL_MSG_CT_GET, seq, family, filter)
}

/// Appends a dump request that also zeroes the counters (`IPCTNL_MSG_CT_GET_CTRZERO`).
pub fn ct_dump_ctrzero(e: &mut Emitter<'_>, seq: u32, family: u8, filter: &DumpFilter) {
    dump_with(e, IPCTNL_MSG_CT_GET_CTRZERO, seq, family, filter)
}

/// Appends a dump request of the dying list (`IPCTNL_MSG_CT_GET_DYING`).
pub fn ct_dump_dying(e: &mut Emitter<'_>, seq: u32, family: u8) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_GET_DYING), DUMP, seq, family, 0);
    e.end_message(m);
}

/// Appends a dump request of the unconfirmed list (`IPCTNL_MSG_CT_GET_UNCONFIRMED`).
pub fn ct_dump_unconfirmed(e: &mut Emitter<'_>, seq: u32, family: u8) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_GET_UNCONFIRMED), DUMP, seq, family, 0);
    e.end_message(m);
}

fn put_key(e: &mut Emitter<'_>, key: &Key) {
    key.tuple.emit_nest(e, key.dir.attr());
    if let Some(z) = key.zone {
        e.put_u16_be(CTA_ZONE, z);
    }
    if let Some(id) = key.id {
        e.put_u32_be(CTA_ID, id);
    }
}

/// Appends a get request for one entry (`IPCTNL_MSG_CT_GET` with a tuple), without
/// `NLM_F_ACK`: the reply is the entry or an `NLMSG_ERROR`.
pub fn ct_get(e: &mut Emitter<'_>, seq: u32, family: u8, key: &Key) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_GET), GET, seq, family, 0);
    put_key(e, key);
    e.end_message(m);
}

/// Appends a delete request for one entry (`IPCTNL_MSG_CT_DELETE` with a tuple).
///
/// There is deliberately no delete by id alone: the kernel reads a delete without a tuple as
/// a flush, so an id-only delete would empty the table.
pub fn ct_delete(e: &mut Emitter<'_>, seq: u32, family: u8, key: &Key) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_DELETE), DO, seq, family, 0);
    put_key(e, key);
    e.end_message(m);
}

/// Appends a flush request (`IPCTNL_MSG_CT_DELETE` without a tuple), filtered by `filter`.
///
/// The kernel honours `family` on a flush only when `nfgenmsg.version` is non-zero (version 0
/// flushes every family), so a flush of one family is sent with version 1. Kernels older than
/// that rule flush every family whatever is sent: callers must check the kernel first.
pub fn ct_flush(e: &mut Emitter<'_>, seq: u32, family: u8, filter: &FlushFilter) {
    let version = u8::from(family != AF_UNSPEC);
    let m = e.begin_message_version(ct(IPCTNL_MSG_CT_DELETE), DO, seq, family, version, 0);
    put_mark_status_zone(e, filter.mark, filter.status, filter.zone);
    e.end_message(m);
}

/// Appends a create request (`IPCTNL_MSG_CT_NEW`, `NLM_F_CREATE|NLM_F_EXCL`).
/// The entry's status must include [`Status::CONFIRMED`] or the kernel answers `EBUSY`.
#[cfg(feature = "alloc")]
pub fn ct_create(e: &mut Emitter<'_>, seq: u32, family: u8, conn: &crate::ct::Conn) {
    let m = e.begin_message(
        ct(IPCTNL_MSG_CT_NEW),
        DO | NLM_F_CREATE | NLM_F_EXCL,
        seq,
        family,
        0,
    );
    conn.emit(e);
    e.end_message(m);
}

/// Appends an update request (`IPCTNL_MSG_CT_NEW` without `NLM_F_CREATE`): the entry named by
/// its tuple must exist.
#[cfg(feature = "alloc")]
pub fn ct_update(e: &mut Emitter<'_>, seq: u32, family: u8, conn: &crate::ct::Conn) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_NEW), DO, seq, family, 0);
    conn.emit(e);
    e.end_message(m);
}

/// Appends a per-CPU statistics dump request (`IPCTNL_MSG_CT_GET_STATS_CPU`).
pub fn ct_stats_cpu(e: &mut Emitter<'_>, seq: u32) {
    let m = e.begin_message(ct(IPCTNL_MSG_CT_GET_STATS_CPU), DUMP, seq, AF_UNSPEC, 0);
    e.end_message(m);
}

/// Appends a global statistics request (`IPCTNL_MSG_CT_GET_STATS`).
pub fn ct_stats(e: &mut Emitter<'_>, seq: u32) {
    let m = e.begin_message(
        ct(IPCTNL_MSG_CT_GET_STATS),
        NLM_F_REQUEST,
        seq,
        AF_UNSPEC,
        0,
    );
    e.end_message(m);
}

/// Appends an expectation dump request (`IPCTNL_MSG_EXP_GET`, `NLM_F_DUMP`).
pub fn exp_dump(e: &mut Emitter<'_>, seq: u32, family: u8) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_GET), DUMP, seq, family, 0);
    e.end_message(m);
}

/// Appends an expectation get request by expected tuple (`CTA_EXPECT_TUPLE`) and zone,
/// without `NLM_F_ACK`: the reply is the expectation or an `NLMSG_ERROR`.
pub fn exp_get(e: &mut Emitter<'_>, seq: u32, family: u8, tuple: &Tuple, zone: Option<u16>) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_GET), GET, seq, family, 0);
    tuple.emit_nest(e, CTA_EXPECT_TUPLE);
    if let Some(z) = zone {
        e.put_u16_be(CTA_EXPECT_ZONE, z);
    }
    e.end_message(m);
}

/// Appends an expectation create request (`IPCTNL_MSG_EXP_NEW`, `NLM_F_CREATE|NLM_F_EXCL`).
/// The master must exist and have a helper.
#[cfg(feature = "alloc")]
pub fn exp_create(e: &mut Emitter<'_>, seq: u32, family: u8, x: &crate::exp::Exp) {
    let m = e.begin_message(
        exp(IPCTNL_MSG_EXP_NEW),
        DO | NLM_F_CREATE | NLM_F_EXCL,
        seq,
        family,
        0,
    );
    x.emit(e);
    e.end_message(m);
}

/// Appends an expectation delete request by expected tuple (and optionally id and zone).
pub fn exp_delete(
    e: &mut Emitter<'_>,
    seq: u32,
    family: u8,
    tuple: &Tuple,
    zone: Option<u16>,
    id: Option<u32>,
) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_DELETE), DO, seq, family, 0);
    tuple.emit_nest(e, CTA_EXPECT_TUPLE);
    if let Some(z) = zone {
        e.put_u16_be(CTA_EXPECT_ZONE, z);
    }
    if let Some(id) = id {
        e.put_u32_be(CTA_EXPECT_ID, id);
    }
    e.end_message(m);
}

/// Appends a request deleting every expectation of one helper (`CTA_EXPECT_HELP_NAME`).
pub fn exp_delete_by_helper(e: &mut Emitter<'_>, seq: u32, family: u8, helper: &str) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_DELETE), DO, seq, family, 0);
    e.put_str(CTA_EXPECT_HELP_NAME, helper);
    e.end_message(m);
}

/// Appends an expectation flush request (`IPCTNL_MSG_EXP_DELETE` without attributes).
pub fn exp_flush(e: &mut Emitter<'_>, seq: u32, family: u8) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_DELETE), DO, seq, family, 0);
    e.end_message(m);
}

/// Appends a per-CPU expectation statistics dump request (`IPCTNL_MSG_EXP_GET_STATS_CPU`).
pub fn exp_stats_cpu(e: &mut Emitter<'_>, seq: u32) {
    let m = e.begin_message(exp(IPCTNL_MSG_EXP_GET_STATS_CPU), DUMP, seq, AF_UNSPEC, 0);
    e.end_message(m);
}

/// Writes one request into `buf` with `f` and returns its length; a short buffer is
/// [`crate::Error::BufferTooSmall`] with the length needed.
pub fn emit_into(buf: &mut [u8], f: impl FnOnce(&mut Emitter<'_>)) -> crate::Result<usize> {
    let mut e = Emitter::new(buf);
    f(&mut e);
    e.finish()
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use crate::message::{CtMsg, MessageKind, Messages};
    use core::net::{IpAddr, Ipv4Addr};

    fn tcp_key() -> Key {
        let mut t = Tuple::default();
        t.src = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        t.dst = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        t.proto.num = Some(IPPROTO_TCP);
        t.proto.src_port = Some(1000);
        t.proto.dst_port = Some(80);
        Key {
            tuple: t,
            zone: Some(7),
            ..Default::default()
        }
    }

    #[test]
    fn requests_back_to_back_parse_again() {
        let mut buf = [0xa5u8; 512];
        let mut e = Emitter::new(&mut buf);
        ct_get(&mut e, 1, AF_INET, &tcp_key());
        ct_delete(&mut e, 2, AF_INET, &tcp_key());
        ct_flush(
            &mut e,
            3,
            AF_INET,
            &FlushFilter {
                mark: Some((1, 1)),
                ..Default::default()
            },
        );
        let n = e.finish().unwrap();
        let msgs: Vec<_> = Messages::new(&buf[..n]).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].kind(), MessageKind::Conntrack(CtMsg::Get));
        assert_eq!(msgs[1].kind(), MessageKind::Conntrack(CtMsg::Delete));
        let v = msgs[0].conn().unwrap();
        assert_eq!(v.zone(), Some(7));
        assert_eq!(v.tuple_orig().unwrap().dst_port(), Some(80));
        assert_eq!(msgs[2].conn().unwrap().mark_mask(), Some(1));
        // a get's reply ends it; the mutations ask for an ACK
        assert_eq!(msgs[0].flags() & NLM_F_ACK, 0);
        assert!(msgs[1..].iter().all(|m| m.flags() & NLM_F_ACK != 0));
    }

    #[test]
    fn every_short_buffer_is_an_error() {
        let f = DumpFilter {
            orig: Some(tcp_key().tuple),
            mark: Some((1, 2)),
            ..Default::default()
        };
        let need = emit_into(&mut [], |e| ct_dump(e, 1, AF_INET, &f)).unwrap_err();
        let crate::Error::BufferTooSmall { need } = need else {
            panic!("{need:?}")
        };
        for len in 0..need {
            let mut buf = vec![0xa5u8; len];
            assert_eq!(
                emit_into(&mut buf, |e| ct_dump(e, 1, AF_INET, &f)),
                Err(crate::Error::BufferTooSmall { need })
            );
        }
        let mut buf = vec![0xa5u8; need];
        assert_eq!(
            emit_into(&mut buf, |e| ct_dump(e, 1, AF_INET, &f)),
            Ok(need)
        );
        let m = Messages::new(&buf).next().unwrap().unwrap();
        let v = m.conn().unwrap();
        assert_eq!(
            v.filter().unwrap().orig_flags(),
            Some(filter_flags_for(&tcp_key().tuple))
        );
    }
}
