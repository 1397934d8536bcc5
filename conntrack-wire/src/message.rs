//! Netlink messages: the [`Messages`] walker over one datagram and the classified [`Message`].

use crate::attr::{Attrs, cstr, ne_u32};
use crate::consts::*;
use crate::ct::ConnView;
use crate::error::{Error, Result};
use crate::exp::ExpView;
use crate::header::{NfGenMsg, NlMsgErr, NlMsgHdr, align};
use crate::stats::{CpuStatsView, ExpStatsView, GlobalStatsView};
use zerocopy::FromBytes;

/// Walks the netlink messages of one datagram.
///
/// Yields `Err` once for a malformed header and then fuses.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Messages<'a> {
    /// Creates a walker over the messages in `datagram`.
    #[inline]
    pub fn new(datagram: &'a [u8]) -> Self {
        Messages {
            rest: datagram,
            failed: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = Message::parse(self.rest);
        match r {
            Ok((m, len)) => {
                self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
                Some(Ok(m))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Messages<'_> {}

/// What a conntrack-subsystem message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CtMsg {
    /// `IPCTNL_MSG_CT_NEW` with `NLM_F_CREATE|NLM_F_EXCL`: a NEW event or a create request.
    New,
    /// `IPCTNL_MSG_CT_NEW` without `NLM_F_CREATE|NLM_F_EXCL`: a dump entry, a get reply,
    /// an UPDATE event or an update request.
    Update,
    /// `IPCTNL_MSG_CT_DELETE`: a DESTROY event or a delete/flush request.
    Delete,
    /// `IPCTNL_MSG_CT_GET`: a get or dump request.
    Get,
    /// `IPCTNL_MSG_CT_GET_CTRZERO`: get or dump and zero the counters.
    GetCtrZero,
    /// `IPCTNL_MSG_CT_GET_DYING`: dump of the dying list.
    GetDying,
    /// `IPCTNL_MSG_CT_GET_UNCONFIRMED`: dump of the unconfirmed list.
    GetUnconfirmed,
}

/// What an expectation-subsystem message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExpMsg {
    /// `IPCTNL_MSG_EXP_NEW`: a dump entry, a NEW event or a create request.
    New,
    /// `IPCTNL_MSG_EXP_GET`: a get or dump request.
    Get,
    /// `IPCTNL_MSG_EXP_DELETE`: a DESTROY event or a delete request.
    Delete,
}

/// The classification of one netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MessageKind {
    /// A conntrack entry message; see [`Message::conn`].
    Conntrack(CtMsg),
    /// An expectation message; see [`Message::exp`].
    Expect(ExpMsg),
    /// Per-CPU conntrack statistics (`IPCTNL_MSG_CT_GET_STATS_CPU`); the CPU is `res_id`.
    CtStatsCpu,
    /// Global conntrack statistics (`IPCTNL_MSG_CT_GET_STATS`).
    CtStats,
    /// Per-CPU expectation statistics (`IPCTNL_MSG_EXP_GET_STATS_CPU`; the kernel sends this
    /// reply under the conntrack subsystem id, which is recognised too).
    ExpStatsCpu,
    /// `NLMSG_DONE`: the end of a dump; see [`Message::done`].
    Done,
    /// `NLMSG_ERROR`: an error or, with errno 0, an acknowledgement; see [`Message::error`].
    Error,
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// `NLMSG_NOOP`.
    Noop,
    /// Any other type, kept as is.
    Other(u16),
}

/// One netlink message, borrowed from the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    hdr: &'a NlMsgHdr,
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses the first message of `bytes`, returning it and its unpadded length.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize)> {
        let Ok((hdr, _)) = NlMsgHdr::ref_from_prefix(bytes) else {
            return Err(Error::Truncated {
                need: NLMSG_HDRLEN,
                have: bytes.len(),
            });
        };
        let len32 = hdr.nlmsg_len.get();
        let len = len32 as usize;
        if len < NLMSG_HDRLEN {
            return Err(Error::BadMsgLen { len: len32 });
        }
        let Some(msg) = bytes.get(..len) else {
            return Err(Error::Truncated {
                need: len,
                have: bytes.len(),
            });
        };
        Ok((Message { hdr, bytes: msg }, len))
    }

    /// Returns the `nlmsghdr`.
    #[inline]
    pub fn header(&self) -> &'a NlMsgHdr {
        self.hdr
    }

    /// Returns `nlmsg_type`.
    #[inline]
    pub fn nlmsg_type(&self) -> u16 {
        self.hdr.nlmsg_type.get()
    }

    /// Returns `nlmsg_flags` (`NLM_F_*`).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.hdr.nlmsg_flags.get()
    }

    /// Returns `nlmsg_seq`.
    #[inline]
    pub fn seq(&self) -> u32 {
        self.hdr.nlmsg_seq.get()
    }

    /// Returns `nlmsg_pid`, the sender's port id (0 for the kernel).
    #[inline]
    pub fn pid(&self) -> u32 {
        self.hdr.nlmsg_pid.get()
    }

    /// Returns the whole message, header included.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Returns the payload after the `nlmsghdr`.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(NLMSG_HDRLEN..).unwrap_or(&[])
    }

    /// Classifies the message.
    #[inline]
    pub fn kind(&self) -> MessageKind {
        let t = self.nlmsg_type();
        let [subsys, op] = t.to_be_bytes();
        match t {
            NLMSG_NOOP => return MessageKind::Noop,
            NLMSG_ERROR => return MessageKind::Error,
            NLMSG_DONE => return MessageKind::Done,
            NLMSG_OVERRUN => return MessageKind::Overrun,
            _ => {}
        }
        let create = self.flags() & (NLM_F_CREATE | NLM_F_EXCL) == NLM_F_CREATE | NLM_F_EXCL;
        match (subsys, op) {
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW) if create => {
                MessageKind::Conntrack(CtMsg::New)
            }
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW) => MessageKind::Conntrack(CtMsg::Update),
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET) => MessageKind::Conntrack(CtMsg::Get),
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE) => MessageKind::Conntrack(CtMsg::Delete),
            // The kernel sends its per-CPU expectation statistics with the conntrack subsystem
            // id (`ctnetlink_exp_stat_fill_info`), so that reply has the type of a
            // GET_CTRZERO request; only requests carry NLM_F_REQUEST.
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_EXP_GET_STATS_CPU)
                if self.flags() & NLM_F_REQUEST == 0 =>
            {
                MessageKind::ExpStatsCpu
            }
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_CTRZERO) => {
                MessageKind::Conntrack(CtMsg::GetCtrZero)
            }
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_DYING) => {
                MessageKind::Conntrack(CtMsg::GetDying)
            }
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_UNCONFIRMED) => {
                MessageKind::Conntrack(CtMsg::GetUnconfirmed)
            }
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU) => MessageKind::CtStatsCpu,
            (NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS) => MessageKind::CtStats,
            (NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW) => MessageKind::Expect(ExpMsg::New),
            (NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET) => MessageKind::Expect(ExpMsg::Get),
            (NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE) => {
                MessageKind::Expect(ExpMsg::Delete)
            }
            (NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET_STATS_CPU) => MessageKind::ExpStatsCpu,
            _ => MessageKind::Other(t),
        }
    }

    /// Returns the `nfgenmsg` of a netfilter message.
    #[inline]
    pub fn nfgen(&self) -> Result<&'a NfGenMsg> {
        let p = self.payload();
        NfGenMsg::ref_from_prefix(p)
            .map(|(g, _)| g)
            .map_err(|_| Error::Truncated {
                need: NLMSG_HDRLEN + 4,
                have: self.bytes.len(),
            })
    }

    /// Returns the address family of a netfilter message (`nfgen_family`).
    #[inline]
    pub fn family(&self) -> Result<u8> {
        self.nfgen().map(|g| g.nfgen_family)
    }

    /// Returns the attributes after the `nfgenmsg`.
    #[inline]
    pub fn attr_bytes(&self) -> Result<&'a [u8]> {
        self.nfgen()?;
        Ok(self.payload().get(4..).unwrap_or(&[]))
    }

    #[inline]
    fn expect(&self, ok: bool) -> Result<&'a [u8]> {
        if !ok {
            return Err(Error::WrongMessage {
                nlmsg_type: self.nlmsg_type(),
            });
        }
        self.attr_bytes()
    }

    /// Views a conntrack entry message (dump entry, get reply, event or request).
    #[inline(always)]
    pub fn conn(&self) -> Result<ConnView<'a>> {
        let ok = matches!(self.kind(), MessageKind::Conntrack(_));
        ConnView::new_checked(self.expect(ok)?)
    }

    /// Views a conntrack message like [`Message::conn`], without a walk when it is laid out
    /// like a message `layouts` remembers (see [`crate::ConnDecoder::conn`]).
    #[inline]
    pub(crate) fn conn_remembered(&self, layouts: &mut crate::ConnDecoder) -> Result<ConnView<'a>> {
        let ok = matches!(self.kind(), MessageKind::Conntrack(_));
        ConnView::new_remembered(self.expect(ok)?, layouts)
    }

    /// Views an expectation message.
    #[inline]
    pub fn exp(&self) -> Result<ExpView<'a>> {
        let ok = matches!(self.kind(), MessageKind::Expect(_));
        ExpView::new_checked(self.expect(ok)?)
    }

    /// Views a per-CPU conntrack statistics message; the CPU number is [`Self::res_id`].
    #[inline]
    pub fn cpu_stats(&self) -> Result<CpuStatsView<'a>> {
        CpuStatsView::new_checked(self.expect(self.kind() == MessageKind::CtStatsCpu)?)
    }

    /// Views a global conntrack statistics message.
    #[inline]
    pub fn global_stats(&self) -> Result<GlobalStatsView<'a>> {
        GlobalStatsView::new_checked(self.expect(self.kind() == MessageKind::CtStats)?)
    }

    /// Views a per-CPU expectation statistics message.
    #[inline]
    pub fn exp_stats(&self) -> Result<ExpStatsView<'a>> {
        ExpStatsView::new_checked(self.expect(self.kind() == MessageKind::ExpStatsCpu)?)
    }

    /// Returns `res_id` of the `nfgenmsg` (host order; the CPU in per-CPU statistics).
    #[inline]
    pub fn res_id(&self) -> Result<u16> {
        self.nfgen().map(|g| g.res_id.get())
    }

    /// Views an `NLMSG_ERROR` (an error, or an acknowledgement when errno is 0).
    #[inline]
    pub fn error(&self) -> Result<ErrorMsg<'a>> {
        if self.kind() != MessageKind::Error {
            return Err(Error::WrongMessage {
                nlmsg_type: self.nlmsg_type(),
            });
        }
        ErrorMsg::parse(self.payload(), self.flags())
    }

    /// Views an `NLMSG_DONE`: its status (0, or a negative errno if the dump failed) and any
    /// extended-ack attributes.
    #[inline]
    pub fn done(&self) -> Result<DoneMsg<'a>> {
        if self.kind() != MessageKind::Done {
            return Err(Error::WrongMessage {
                nlmsg_type: self.nlmsg_type(),
            });
        }
        let p = self.payload();
        // A DONE without a status word is legal (old kernels); read it as 0.
        let status = match p.get(..4) {
            Some(b) => ne_u32(b).map_or(0, |v| v as i32),
            None if p.is_empty() => 0,
            None => {
                return Err(Error::Truncated {
                    need: NLMSG_HDRLEN + 4,
                    have: self.bytes.len(),
                });
            }
        };
        let tlvs = p.get(4..).unwrap_or(&[]);
        let ext_ack = ExtAck::parse(if self.flags() & NLM_F_ACK_TLVS != 0 {
            tlvs
        } else {
            &[]
        })?;
        Ok(DoneMsg { status, ext_ack })
    }
}

/// The extended-ack attributes of an error or DONE message (`NLMSGERR_ATTR_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExtAck<'a> {
    /// `NLMSGERR_ATTR_MSG`: the kernel's human-readable message.
    pub msg: Option<&'a str>,
    /// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute in the request.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_COOKIE`.
    pub cookie: Option<&'a [u8]>,
    /// `NLMSGERR_ATTR_POLICY`: the policy of the rejected attribute (nested, raw).
    pub policy: Option<&'a [u8]>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: type of a missing attribute.
    pub miss_type: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_NEST`: offset of the nest missing an attribute.
    pub miss_nest: Option<u32>,
}

impl<'a> ExtAck<'a> {
    #[inline]
    fn parse(tlvs: &'a [u8]) -> Result<Self> {
        let mut x = ExtAck::default();
        for a in Attrs::new(tlvs) {
            let a = a?;
            let p = a.payload();
            let bad = || Error::BadAttrLen {
                kind: a.kind(),
                nest: NLMSG_ERROR,
                len: p.len(),
            };
            match a.kind() {
                NLMSGERR_ATTR_MSG => x.msg = Some(cstr(p).ok_or_else(bad)?),
                NLMSGERR_ATTR_OFFS => x.offset = Some(ne_u32(p).ok_or_else(bad)?),
                NLMSGERR_ATTR_COOKIE => x.cookie = Some(p),
                NLMSGERR_ATTR_POLICY => x.policy = Some(p),
                NLMSGERR_ATTR_MISS_TYPE => x.miss_type = Some(ne_u32(p).ok_or_else(bad)?),
                NLMSGERR_ATTR_MISS_NEST => x.miss_nest = Some(ne_u32(p).ok_or_else(bad)?),
                _ => {}
            }
        }
        Ok(x)
    }

    /// Returns whether no extended-ack attribute was present.
    #[inline]
    pub fn is_empty(&self) -> bool {
        *self == ExtAck::default()
    }
}

/// An `NLMSG_ERROR` message: errno (0 for an ACK), the request header, and the extended ack.
///
/// ```
/// use conntrack_wire::Messages;
/// let replies = include_bytes!("../tests/fixtures/errors.bin");
/// let first = Messages::new(replies).next().unwrap().unwrap().error().unwrap();
/// assert_eq!(first.errno(), 2); // ENOENT: the get of a missing entry
/// assert_eq!(first.request().nlmsg_seq.get(), 30);
/// ```
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ErrorMsg<'a> {
    errno: i32,
    request: &'a NlMsgHdr,
    request_payload: &'a [u8],
    ext_ack: ExtAck<'a>,
}

#[cfg(feature = "defmt")]
impl defmt::Format for NlMsgHdr {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "nlmsghdr {{ len: {=u32}, type: {=u16:#x}, flags: {=u16:#x}, seq: {=u32} }}",
            self.nlmsg_len.get(),
            self.nlmsg_type.get(),
            self.nlmsg_flags.get(),
            self.nlmsg_seq.get()
        )
    }
}

impl<'a> ErrorMsg<'a> {
    #[inline]
    fn parse(p: &'a [u8], flags: u16) -> Result<Self> {
        let Ok((e, rest)) = NlMsgErr::ref_from_prefix(p) else {
            return Err(Error::Truncated {
                need: NLMSG_HDRLEN + 20,
                have: NLMSG_HDRLEN.saturating_add(p.len()),
            });
        };
        let (request_payload, tlvs) = if flags & NLM_F_CAPPED != 0 {
            (&[][..], rest)
        } else {
            let n = (e.msg.nlmsg_len.get() as usize).saturating_sub(NLMSG_HDRLEN);
            let Some(req) = rest.get(..n) else {
                return Err(Error::Truncated {
                    // `n` comes from the wire: saturate rather than overflow on 32-bit.
                    need: (NLMSG_HDRLEN + 20).saturating_add(n),
                    have: NLMSG_HDRLEN.saturating_add(p.len()),
                });
            };
            (req, rest.get(align(n)..).unwrap_or(&[]))
        };
        let ext_ack = ExtAck::parse(if flags & NLM_F_ACK_TLVS != 0 {
            tlvs
        } else {
            &[]
        })?;
        // The kernel sends a negative errno; report it positive.
        Ok(ErrorMsg {
            errno: e.error.get().saturating_neg(),
            request: &e.msg,
            request_payload,
            ext_ack,
        })
    }

    /// Returns the (positive) errno, or 0 for an acknowledgement.
    #[inline]
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// Returns whether this is an acknowledgement (errno 0).
    #[inline]
    pub fn is_ack(&self) -> bool {
        self.errno == 0
    }

    /// Returns the header of the request this message answers.
    #[inline]
    pub fn request(&self) -> &'a NlMsgHdr {
        self.request
    }

    /// Returns the echoed payload of the request (empty when `NLM_F_CAPPED`).
    #[inline]
    pub fn request_payload(&self) -> &'a [u8] {
        self.request_payload
    }

    /// Returns the extended-ack attributes.
    #[inline]
    pub fn ext_ack(&self) -> &ExtAck<'a> {
        &self.ext_ack
    }
}

/// An `NLMSG_DONE` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DoneMsg<'a> {
    /// 0, or the negative errno that ended the dump.
    pub status: i32,
    /// Extended-ack attributes, if any.
    pub ext_ack: ExtAck<'a>,
}
