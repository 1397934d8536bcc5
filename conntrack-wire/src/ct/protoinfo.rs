//! `CTA_PROTOINFO`: per-protocol state for TCP, DCCP and SCTP.

use crate::consts::*;
use crate::emit::Emitter;
use crate::error::Result;
use crate::scalar::{Be32, Be64, Codec, U8, kernel_enum, scalar_nest};
use crate::table::{Len, Schema, Table, index_nests};

kernel_enum! {
    /// TCP connection-tracking state (`enum tcp_conntrack`).
    TcpState: u8 {
        /// `TCP_CONNTRACK_NONE`.
        None = 0 => "NONE",
        /// `TCP_CONNTRACK_SYN_SENT`.
        SynSent = 1 => "SYN_SENT",
        /// `TCP_CONNTRACK_SYN_RECV`.
        SynRecv = 2 => "SYN_RECV",
        /// `TCP_CONNTRACK_ESTABLISHED`.
        Established = 3 => "ESTABLISHED",
        /// `TCP_CONNTRACK_FIN_WAIT`.
        FinWait = 4 => "FIN_WAIT",
        /// `TCP_CONNTRACK_CLOSE_WAIT`.
        CloseWait = 5 => "CLOSE_WAIT",
        /// `TCP_CONNTRACK_LAST_ACK`.
        LastAck = 6 => "LAST_ACK",
        /// `TCP_CONNTRACK_TIME_WAIT`.
        TimeWait = 7 => "TIME_WAIT",
        /// `TCP_CONNTRACK_CLOSE`.
        Close = 8 => "CLOSE",
        /// `TCP_CONNTRACK_SYN_SENT2` (also `TCP_CONNTRACK_LISTEN`).
        SynSent2 = 9 => "SYN_SENT2",
    }
}

kernel_enum! {
    /// SCTP connection-tracking state (`enum sctp_conntrack`).
    SctpState: u8 {
        /// `SCTP_CONNTRACK_NONE`.
        None = 0 => "NONE",
        /// `SCTP_CONNTRACK_CLOSED`.
        Closed = 1 => "CLOSED",
        /// `SCTP_CONNTRACK_COOKIE_WAIT`.
        CookieWait = 2 => "COOKIE_WAIT",
        /// `SCTP_CONNTRACK_COOKIE_ECHOED`.
        CookieEchoed = 3 => "COOKIE_ECHOED",
        /// `SCTP_CONNTRACK_ESTABLISHED`.
        Established = 4 => "ESTABLISHED",
        /// `SCTP_CONNTRACK_SHUTDOWN_SENT`.
        ShutdownSent = 5 => "SHUTDOWN_SENT",
        /// `SCTP_CONNTRACK_SHUTDOWN_RECD`.
        ShutdownRecd = 6 => "SHUTDOWN_RECD",
        /// `SCTP_CONNTRACK_SHUTDOWN_ACK_SENT`.
        ShutdownAckSent = 7 => "SHUTDOWN_ACK_SENT",
        /// `SCTP_CONNTRACK_HEARTBEAT_SENT`.
        HeartbeatSent = 8 => "HEARTBEAT_SENT",
    }
}

kernel_enum! {
    /// DCCP connection-tracking state (`enum ct_dccp_states`).
    DccpState: u8 {
        /// `CT_DCCP_NONE`.
        None = 0 => "NONE",
        /// `CT_DCCP_REQUEST`.
        Request = 1 => "REQUEST",
        /// `CT_DCCP_RESPOND`.
        Respond = 2 => "RESPOND",
        /// `CT_DCCP_PARTOPEN`.
        PartOpen = 3 => "PARTOPEN",
        /// `CT_DCCP_OPEN`.
        Open = 4 => "OPEN",
        /// `CT_DCCP_CLOSEREQ`.
        CloseReq = 5 => "CLOSEREQ",
        /// `CT_DCCP_CLOSING`.
        Closing = 6 => "CLOSING",
        /// `CT_DCCP_TIMEWAIT`.
        TimeWait = 7 => "TIMEWAIT",
        /// `CT_DCCP_IGNORE`.
        Ignore = 8 => "IGNORE",
        /// `CT_DCCP_INVALID`.
        Invalid = 9 => "INVALID",
    }
}

kernel_enum! {
    /// The role of a DCCP entry's original direction (`enum ct_dccp_roles`).
    DccpRole: u8 {
        /// `CT_DCCP_ROLE_CLIENT`.
        Client = 0 => "client",
        /// `CT_DCCP_ROLE_SERVER`.
        Server = 1 => "server",
    }
}

/// `struct nf_ct_tcp_flags`: the `IP_CT_TCP_FLAG_*` bits and which of them to change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TcpFlags {
    /// `IP_CT_TCP_FLAG_*` bits.
    pub flags: u8,
    /// Which bits a request changes (ignored in replies).
    pub mask: u8,
}

/// Codec for the two-byte `struct nf_ct_tcp_flags`.
pub struct TcpFlagsCodec;

impl Codec for TcpFlagsCodec {
    type T = TcpFlags;
    const LEN: u16 = 2;
    #[inline]
    fn get(p: &[u8]) -> Option<TcpFlags> {
        match p {
            [flags, mask] => Some(TcpFlags {
                flags: *flags,
                mask: *mask,
            }),
            _ => None,
        }
    }
    #[inline]
    fn put(e: &mut Emitter<'_>, kind: u16, v: TcpFlags) {
        e.put(kind, &[v.flags, v.mask]);
    }
}

scalar_nest! {
    /// A borrowed `CTA_PROTOINFO_TCP` nest. DESTROY events may carry only some fields.
    view TcpInfoView;
    /// TCP protocol state; see [`TcpInfoView`].
    repr TcpInfo;
    nest CTA_PROTOINFO_TCP, max 5;
    /// Returns the raw state (`CTA_PROTOINFO_TCP_STATE`); see [`TcpState`].
    state: CTA_PROTOINFO_TCP_STATE => U8;
    /// Returns the original-direction window scale.
    wscale_original: CTA_PROTOINFO_TCP_WSCALE_ORIGINAL => U8;
    /// Returns the reply-direction window scale.
    wscale_reply: CTA_PROTOINFO_TCP_WSCALE_REPLY => U8;
    /// Returns the original-direction flags.
    flags_original: CTA_PROTOINFO_TCP_FLAGS_ORIGINAL => TcpFlagsCodec;
    /// Returns the reply-direction flags.
    flags_reply: CTA_PROTOINFO_TCP_FLAGS_REPLY => TcpFlagsCodec;
}

impl TcpInfoView<'_> {
    /// Returns the typed state.
    #[inline]
    pub fn tcp_state(&self) -> Option<TcpState> {
        self.state().map(TcpState::from)
    }
}

scalar_nest! {
    /// A borrowed `CTA_PROTOINFO_DCCP` nest.
    view DccpInfoView;
    /// DCCP protocol state; see [`DccpInfoView`].
    repr DccpInfo;
    nest CTA_PROTOINFO_DCCP, max 4;
    /// Returns the raw state (`CTA_PROTOINFO_DCCP_STATE`); see [`DccpState`].
    state: CTA_PROTOINFO_DCCP_STATE => U8;
    /// Returns the role of the original direction (`CTA_PROTOINFO_DCCP_ROLE`); see
    /// [`DccpRole`].
    role: CTA_PROTOINFO_DCCP_ROLE => U8;
    /// Returns the handshake sequence number (`CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ`, big-endian).
    handshake_seq: CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ => Be64;
}

scalar_nest! {
    /// A borrowed `CTA_PROTOINFO_SCTP` nest.
    view SctpInfoView;
    /// SCTP protocol state; see [`SctpInfoView`].
    repr SctpInfo;
    nest CTA_PROTOINFO_SCTP, max 3;
    /// Returns the raw state (`CTA_PROTOINFO_SCTP_STATE`); see [`SctpState`].
    state: CTA_PROTOINFO_SCTP_STATE => U8;
    /// Returns the original-direction verification tag (big-endian on the wire).
    vtag_original: CTA_PROTOINFO_SCTP_VTAG_ORIGINAL => Be32;
    /// Returns the reply-direction verification tag (big-endian on the wire).
    vtag_reply: CTA_PROTOINFO_SCTP_VTAG_REPLY => Be32;
}

// The protocol nests are indexed in place: slots 0..3 `CTA_PROTOINFO_*`, then each protocol's.
const TCP: usize = 3;
const DCCP: usize = TCP + 5;
const SCTP: usize = DCCP + 4;

/// The protoinfo nest, with its protocol nests indexed in place.
pub(crate) struct ProtoInfoSchema;

impl Schema for ProtoInfoSchema {
    const RULES: &'static [Len] = &[Len::Index, Len::Index, Len::Index];
    const SLOTS: usize = SCTP + 3;

    index_nests! {
        CTA_PROTOINFO_TCP => TcpInfoView, at TCP;
        CTA_PROTOINFO_DCCP => DccpInfoView, at DCCP;
        CTA_PROTOINFO_SCTP => SctpInfoView, at SCTP;
    }
}

/// Slots a protoinfo nest fills.
pub(crate) const SLOTS: usize = ProtoInfoSchema::SLOTS;

/// A borrowed `CTA_PROTOINFO` nest.
///
/// ```
/// use conntrack_wire::ct::{SctpState, TcpState};
/// use conntrack_wire::{Messages, MessageKind};
/// let dump = include_bytes!("../../tests/fixtures/dump_ct.bin");
/// let mut tcp = Vec::new();
/// let mut sctp = Vec::new();
/// for m in Messages::new(dump).filter_map(Result::ok) {
///     let Some(p) = m.conn().ok().and_then(|c| c.protoinfo()) else { continue };
///     tcp.extend(p.tcp().and_then(|t| t.tcp_state()));
///     sctp.extend(p.sctp().and_then(|s| s.state()).map(SctpState::from));
/// }
/// assert!(tcp.contains(&TcpState::Established) && tcp.contains(&TcpState::TimeWait));
/// assert!(sctp.contains(&SctpState::CookieWait));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProtoInfoView<'a> {
    t: Table<'a, SLOTS>,
}

impl<'a> ProtoInfoView<'a> {
    /// Validates the nest and every protocol nest inside it.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self> {
        Ok(ProtoInfoView {
            t: Table::parse_nested::<ProtoInfoSchema>(bytes, CTA_PROTOINFO)?,
        })
    }

    /// A nest already indexed as part of an enclosing table.
    #[inline]
    pub(crate) fn from_table(t: Table<'a, SLOTS>) -> Self {
        ProtoInfoView { t }
    }

    /// Returns the TCP state (`CTA_PROTOINFO_TCP`).
    #[inline]
    pub fn tcp(&self) -> Option<TcpInfoView<'a>> {
        let at = usize::from(CTA_PROTOINFO_TCP) - 1;
        self.t.sub(at, TCP).map(TcpInfoView::from_table)
    }

    /// Returns the DCCP state (`CTA_PROTOINFO_DCCP`).
    #[inline]
    pub fn dccp(&self) -> Option<DccpInfoView<'a>> {
        let at = usize::from(CTA_PROTOINFO_DCCP) - 1;
        self.t.sub(at, DCCP).map(DccpInfoView::from_table)
    }

    /// Returns the SCTP state (`CTA_PROTOINFO_SCTP`).
    #[inline]
    pub fn sctp(&self) -> Option<SctpInfoView<'a>> {
        let at = usize::from(CTA_PROTOINFO_SCTP) - 1;
        self.t.sub(at, SCTP).map(SctpInfoView::from_table)
    }

    /// Returns every attribute of the nest, known and unknown, in wire order.
    #[inline]
    pub fn attrs(&self) -> crate::Attrs<'a> {
        self.t.attrs()
    }
}

/// Owned `CTA_PROTOINFO`; see [`ProtoInfoView`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ProtoInfo {
    /// TCP state.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub tcp: Option<TcpInfo>,
    /// DCCP state.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub dccp: Option<DccpInfo>,
    /// SCTP state.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub sctp: Option<SctpInfo>,
}

impl ProtoInfo {
    /// Copies the protocol state out of a view.
    #[inline]
    pub fn parse(v: &ProtoInfoView<'_>) -> Self {
        ProtoInfo {
            tcp: v.tcp().map(|x| TcpInfo::parse(&x)),
            dccp: v.dccp().map(|x| DccpInfo::parse(&x)),
            sctp: v.sctp().map(|x| SctpInfo::parse(&x)),
        }
    }

    /// Emits `CTA_PROTOINFO`.
    #[inline]
    pub fn emit_nest(&self, e: &mut Emitter<'_>, kind: u16) {
        e.nest(kind, |e| {
            if let Some(t) = &self.tcp {
                t.emit_nest(e, CTA_PROTOINFO_TCP);
            }
            if let Some(d) = &self.dccp {
                d.emit_nest(e, CTA_PROTOINFO_DCCP);
            }
            if let Some(s) = &self.sctp {
                s.emit_nest(e, CTA_PROTOINFO_SCTP);
            }
        });
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ProtoInfoView<'_> {
    #[inline]
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", ProtoInfo::parse(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroy_style_partial_tcp_parses() {
        // A TCP nest with only the state, as DESTROY events may send it (hand-built).
        let b = [12, 0, 1, 0x80, 5, 0, 1, 0, 7, 0, 0, 0];
        let v = ProtoInfoView::new_checked(&b).unwrap();
        let t = v.tcp().unwrap();
        assert_eq!(t.tcp_state(), Some(TcpState::TimeWait));
        assert_eq!(t.flags_original(), None);
    }

    #[test]
    fn state_round_trips_unknown() {
        assert_eq!(u8::from(TcpState::from(200)), 200);
        assert_eq!(TcpState::from(3).name(), "ESTABLISHED");
    }
}
