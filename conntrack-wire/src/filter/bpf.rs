//! A classic-BPF compiler for kernel-side event filtering (feature `alloc`).
//!
//! The filter language is that of libnetfilter_conntrack's `nfct_filter` and go-conntrack's
//! `RegisterFiltered`: original/reply addresses with masks, ports, L3/L4 protocol, ICMP
//! fields, TCP state, mark with mask, zone, status bits with mask, secmark, entry id; OR
//! within one attribute, AND across attributes, and negation per attribute. Not (yet) compiled
//! to BPF, so to be tested in user space on the events the program lets through: TCP flags
//! and window scale, SCTP and DCCP state, the master tuple, timeout and use ranges, labels.
//! Unlike those two:
//!
//! * IPv4 address criteria apply to IPv4 events only and IPv6 criteria to IPv6 events only:
//!   a filter on IPv4 addresses lets IPv6 events through unless [`EventFilter::family`] asks
//!   otherwise;
//! * every jump is range-checked while assembling (conditional jumps reach at most 255
//!   instructions; long lists are split into chunks joined by 32-bit jumps);
//! * IPv6 addresses and prefixes are compared as four 32-bit words with per-word masks;
//! * a program longer than the kernel's 4,096 instructions is [`BpfError::TooLong`], never cut.
//!
//! The program runs on each netlink message the socket receives. Messages that are not
//! conntrack entries (expectation events, for example) pass unfiltered. It reads
//! `nlmsg_type` in host byte order, so compile it on the machine that will run it.
//!
//! [`EventFilter::matches`] evaluates the same filter in user space, and [`run`] interprets a
//! compiled program (with the kernel's `SKF_AD_NLATTR` extensions), so both can be checked
//! against each other on captured events.

use crate::consts::*;
use crate::{Message, MessageKind};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// The kernel's limit on classic BPF program length (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;

// opcodes (uapi linux/filter.h, linux/bpf_common.h)
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ST: u16 = 0x02;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MEM: u16 = 0x60;
const BPF_AND: u16 = 0x50;
const BPF_MOD: u16 = 0x90;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_K: u16 = 0x00;
const BPF_TAX: u16 = 0x00;
const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
const SKF_AD_NLATTR: u32 = 12;
const SKF_AD_NLATTR_NEST: u32 = 16;

/// Why a filter could not be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BpfError {
    /// The program would have `len` instructions, more than [`BPF_MAXINSNS`].
    TooLong {
        /// The length it would have.
        len: usize,
    },
    /// A conditional jump would need to reach further than 255 instructions.
    JumpOutOfRange {
        /// Where the jump is.
        at: usize,
    },
    /// An IPv6 prefix longer than 128 bits or an IPv4 one longer than 32.
    BadPrefix {
        /// The prefix length given.
        len: u8,
    },
    /// A shard index not below the shard count (or a count of 0).
    BadShard {
        /// The shard count given.
        count: u32,
        /// The shard index given.
        index: u32,
    },
}

impl core::fmt::Display for BpfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BpfError::TooLong { len } => write!(
                f,
                "filter needs {len} BPF instructions, more than the kernel's {BPF_MAXINSNS}"
            ),
            BpfError::JumpOutOfRange { at } => {
                write!(f, "conditional jump at instruction {at} out of range")
            }
            BpfError::BadPrefix { len } => write!(f, "prefix length {len} is too long"),
            BpfError::BadShard { count, index } => {
                write!(
                    f,
                    "shard {index} of {count}: the index must be below the count"
                )
            }
        }
    }
}

impl core::error::Error for BpfError {}

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

    fn active(&self) -> bool {
        !self.values.is_empty()
    }
}

/// An IPv4 network: address and prefix length.
pub type V4Net = (Ipv4Addr, u8);
/// An IPv6 network: address and prefix length.
pub type V6Net = (Ipv6Addr, u8);

/// Which tuple a criterion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Orig,
    Reply,
}

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

// ---------------------------------------------------------------- user-space evaluation

fn v4_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn v6_masks(len: u8) -> [u32; 4] {
    let mut m = [0u32; 4];
    for (i, w) in m.iter_mut().enumerate() {
        let bits = i32::from(len.min(128)) - 32 * i as i32;
        *w = if bits >= 32 {
            u32::MAX
        } else if bits <= 0 {
            0
        } else {
            v4_mask(bits as u8)
        };
    }
    m
}

fn words(a: Ipv6Addr) -> [u32; 4] {
    let b = a.to_bits();
    [
        (b >> 96) as u32,
        (b >> 64) as u32,
        (b >> 32) as u32,
        b as u32,
    ]
}

/// Reads a `N`-byte array at `off`, if the slice is long enough.
fn arr<const N: usize>(p: &[u8], off: usize) -> Option<[u8; N]> {
    p.get(off..off.checked_add(N)?)
        .and_then(|b| b.try_into().ok())
}

fn crit<T>(m: &Match<T>, value: Option<impl Fn(&T) -> bool>) -> bool {
    if !m.active() {
        return true;
    }
    let hit = match value {
        Some(eq) => m.values.iter().any(eq),
        None => false,
    };
    hit != m.negate
}

impl EventFilter {
    /// Evaluates the filter on one message, as the compiled program does in the kernel.
    pub fn matches(&self, msg: &Message<'_>) -> bool {
        let MessageKind::Conntrack(_) = msg.kind() else {
            return self.shard.is_none_or(|s| s.index == 0);
        };
        let Ok(c) = msg.conn() else { return false };
        if !self.shard.is_none_or(|s| s.holds(c.id().unwrap_or(0))) {
            return false;
        }
        let fam = msg.family().unwrap_or(0);
        let o = c.tuple_orig();
        let r = c.tuple_reply();
        let v4 = |t: &Option<crate::TupleView<'_>>, src: bool| {
            t.as_ref()
                .and_then(|t| if src { t.v4_src() } else { t.v4_dst() })
                .map(u32::from_be_bytes)
        };
        let v6 = |t: &Option<crate::TupleView<'_>>, src: bool| {
            t.as_ref()
                .and_then(|t| if src { t.v6_src() } else { t.v6_dst() })
                .map(|b| words(Ipv6Addr::from(b)))
        };
        let net4 = |m: &Match<V4Net>, v: Option<u32>| {
            fam != AF_INET
                || crit(
                    m,
                    v.map(|v| move |&(a, l): &V4Net| v & v4_mask(l) == u32::from(a) & v4_mask(l)),
                )
        };
        let net6 = |m: &Match<V6Net>, v: Option<[u32; 4]>| {
            fam != AF_INET6
                || crit(
                    m,
                    v.map(|v| {
                        move |&(a, l): &V6Net| {
                            let (w, mk) = (words(a), v6_masks(l));
                            v.iter().zip(w).zip(mk).all(|((v, w), m)| v & m == w & m)
                        }
                    }),
                )
        };
        let eq = |v: Option<u16>| v.map(|v| move |x: &u16| *x == v);
        let eq8 = |v: Option<u8>| v.map(|v| move |x: &u8| *x == v);
        let icmp_type = o.as_ref().and_then(|t| t.icmp_type().or(t.icmpv6_type()));
        let icmp_code = o.as_ref().and_then(|t| t.icmp_code().or(t.icmpv6_code()));
        let icmp_id = o.as_ref().and_then(|t| t.icmp_id().or(t.icmpv6_id()));
        let mark = c.mark().unwrap_or(0);
        let status = c.status().map_or(0, |s| s.bits());
        crit(&self.family, Some(|x: &u8| *x == fam))
            && crit(&self.l4proto, eq8(o.as_ref().and_then(|t| t.proto_num())))
            && net4(&self.orig_src_v4, v4(&o, true))
            && net4(&self.orig_dst_v4, v4(&o, false))
            && net4(&self.reply_src_v4, v4(&r, true))
            && net4(&self.reply_dst_v4, v4(&r, false))
            && net6(&self.orig_src_v6, v6(&o, true))
            && net6(&self.orig_dst_v6, v6(&o, false))
            && net6(&self.reply_src_v6, v6(&r, true))
            && net6(&self.reply_dst_v6, v6(&r, false))
            && crit(
                &self.orig_src_port,
                eq(o.as_ref().and_then(|t| t.src_port())),
            )
            && crit(
                &self.orig_dst_port,
                eq(o.as_ref().and_then(|t| t.dst_port())),
            )
            && crit(
                &self.reply_src_port,
                eq(r.as_ref().and_then(|t| t.src_port())),
            )
            && crit(
                &self.reply_dst_port,
                eq(r.as_ref().and_then(|t| t.dst_port())),
            )
            && crit(&self.icmp_type, eq8(icmp_type))
            && crit(&self.icmp_code, eq8(icmp_code))
            && crit(&self.icmp_id, eq(icmp_id))
            && crit(
                &self.tcp_state,
                eq8(c.protoinfo().and_then(|p| p.tcp()).and_then(|t| t.state())),
            )
            && crit(&self.mark, Some(|&(v, m): &(u32, u32)| mark & m == v & m))
            && crit(&self.zone, Some(|z: &u16| *z == c.zone().unwrap_or(0)))
            && crit(
                &self.status,
                Some(|&(v, m): &(u32, u32)| status & m == v & m),
            )
            && crit(
                &self.secmark,
                Some(|v: &u32| *v == c.secmark().unwrap_or(0)),
            )
            && crit(&self.id, Some(|v: &u32| *v == c.id().unwrap_or(0)))
    }

    /// Compiles the filter to a classic BPF program for `SO_ATTACH_FILTER`.
    pub fn compile(&self) -> Result<Vec<Insn>, BpfError> {
        let mut a = Asm::default();
        // Non-conntrack messages pass: the subsystem is the high byte of the host-endian
        // nlmsg_type, at offset 5 on little-endian machines and 4 on big-endian ones.
        let subsys_off = if cfg!(target_endian = "little") { 5 } else { 4 };
        a.op(BPF_LD | BPF_B | BPF_ABS, subsys_off);
        let l_ct = a.label();
        a.jeq(
            u32::from(NFNL_SUBSYS_CTNETLINK),
            Target::L(l_ct),
            Target::Next,
        );
        // 32-bit jump: the accept (or reject) is at the far end. Other subsystems' events all
        // go to shard 0.
        a.ja(if self.shard.is_none_or(|s| s.index == 0) {
            Target::Accept
        } else {
            Target::Reject
        });
        a.bind(l_ct);
        // nlmsg_type must also be NEW or DELETE (low byte 0 or 2)
        let type_off = if cfg!(target_endian = "little") { 4 } else { 5 };
        a.op(BPF_LD | BPF_B | BPF_ABS, type_off);
        let l_type = a.label();
        a.jeq(
            u32::from(IPCTNL_MSG_CT_NEW),
            Target::L(l_type),
            Target::Next,
        );
        a.jeq(
            u32::from(IPCTNL_MSG_CT_DELETE),
            Target::L(l_type),
            Target::Next,
        );
        a.ja(Target::Accept);
        a.bind(l_type);

        if let Some(sh) = self.shard {
            if sh.count == 0 || sh.index >= sh.count {
                return Err(BpfError::BadShard {
                    count: sh.count,
                    index: sh.index,
                });
            }
            if sh.count > 1 {
                // A = CTA_ID (0 if absent) % count; keep the share's events.
                a.load_top_or_zero(CTA_ID, BPF_W);
                a.op(BPF_ALU | BPF_MOD | BPF_K, sh.count);
                let keep = a.label();
                a.jeq(sh.index, Target::L(keep), Target::Next);
                a.ja(Target::Reject);
                a.bind(keep);
            }
        }
        // family: byte 16 (nfgen_family)
        if self.family.active() {
            a.block(
                &self.family,
                |a| a.op(BPF_LD | BPF_B | BPF_ABS, 16),
                |a, v, hit, miss| a.jeq(u32::from(*v), hit, miss),
            )?;
        }
        let proto = |d: Dir, attr: u16, size: u16| {
            move |a: &mut Asm| a.load_path(&[d.attr(), CTA_TUPLE_PROTO, attr], size)
        };
        if self.l4proto.active() {
            a.block(
                &self.l4proto,
                proto(Dir::Orig, CTA_PROTO_NUM, BPF_B),
                |a, v, h, m| a.jeq(u32::from(*v), h, m),
            )?;
        }
        for (m, d, src) in [
            (&self.orig_src_v4, Dir::Orig, true),
            (&self.orig_dst_v4, Dir::Orig, false),
            (&self.reply_src_v4, Dir::Reply, true),
            (&self.reply_dst_v4, Dir::Reply, false),
        ] {
            if !m.active() {
                continue;
            }
            if let Some(&(_, l)) = m.values.iter().find(|(_, l)| *l > 32) {
                return Err(BpfError::BadPrefix { len: l });
            }
            a.only_family(AF_INET, |a| {
                let kind = if src { CTA_IP_V4_SRC } else { CTA_IP_V4_DST };
                a.block(
                    m,
                    |a| {
                        a.load_path(&[d.attr(), CTA_TUPLE_IP, kind], BPF_W);
                        a.op(BPF_ST, 0); // M[0] = address
                    },
                    |a, &(addr, l), hit, miss| {
                        a.op(BPF_LD | BPF_MEM, 0);
                        a.op(BPF_ALU | BPF_AND | BPF_K, v4_mask(l));
                        a.jeq(u32::from(addr) & v4_mask(l), hit, miss);
                    },
                )
            })?;
        }
        for (m, d, src) in [
            (&self.orig_src_v6, Dir::Orig, true),
            (&self.orig_dst_v6, Dir::Orig, false),
            (&self.reply_src_v6, Dir::Reply, true),
            (&self.reply_dst_v6, Dir::Reply, false),
        ] {
            if !m.active() {
                continue;
            }
            if let Some(&(_, l)) = m.values.iter().find(|(_, l)| *l > 128) {
                return Err(BpfError::BadPrefix { len: l });
            }
            a.only_family(AF_INET6, |a| {
                let kind = if src { CTA_IP_V6_SRC } else { CTA_IP_V6_DST };
                a.block(
                    m,
                    |a| {
                        a.find_path(&[d.attr(), CTA_TUPLE_IP, kind]);
                        a.op(BPF_MISC | BPF_TAX, 0); // X = attribute offset, kept for the words
                    },
                    |a, &(addr, l), hit, miss| {
                        let (w, mk) = (words(addr), v6_masks(l));
                        for (i, (w, m)) in w.into_iter().zip(mk).enumerate() {
                            a.op(BPF_LD | BPF_W | BPF_IND, 4 + 4 * i as u32);
                            a.op(BPF_ALU | BPF_AND | BPF_K, m);
                            let next = a.label();
                            if i < 3 {
                                a.jeq(w & m, Target::L(next), miss);
                                a.bind(next);
                            } else {
                                a.jeq(w & m, hit, miss);
                                a.bind(next);
                            }
                        }
                    },
                )
            })?;
        }
        for (m, d, attr) in [
            (&self.orig_src_port, Dir::Orig, CTA_PROTO_SRC_PORT),
            (&self.orig_dst_port, Dir::Orig, CTA_PROTO_DST_PORT),
            (&self.reply_src_port, Dir::Reply, CTA_PROTO_SRC_PORT),
            (&self.reply_dst_port, Dir::Reply, CTA_PROTO_DST_PORT),
        ] {
            if m.active() {
                a.block(m, proto(d, attr, BPF_H), |a, v, h, mi| {
                    a.jeq(u32::from(*v), h, mi)
                })?;
            }
        }
        for (m4, m6, size, vals) in [
            (
                CTA_PROTO_ICMP_TYPE,
                CTA_PROTO_ICMPV6_TYPE,
                BPF_B,
                self.icmp_type
                    .values
                    .iter()
                    .map(|v| u32::from(*v))
                    .collect::<Vec<_>>(),
            ),
            (
                CTA_PROTO_ICMP_CODE,
                CTA_PROTO_ICMPV6_CODE,
                BPF_B,
                self.icmp_code
                    .values
                    .iter()
                    .map(|v| u32::from(*v))
                    .collect(),
            ),
            (
                CTA_PROTO_ICMP_ID,
                CTA_PROTO_ICMPV6_ID,
                BPF_H,
                self.icmp_id.values.iter().map(|v| u32::from(*v)).collect(),
            ),
        ] {
            let negate = match m4 {
                CTA_PROTO_ICMP_TYPE => self.icmp_type.negate,
                CTA_PROTO_ICMP_CODE => self.icmp_code.negate,
                _ => self.icmp_id.negate,
            };
            if vals.is_empty() {
                continue;
            }
            let m = Match {
                values: vals,
                negate,
            };
            // ICMP or ICMPv6 attribute, whichever the event has.
            a.block(
                &m,
                |a| {
                    let have = a.label();
                    let try6 = a.label();
                    a.find_path(&[CTA_TUPLE_ORIG, CTA_TUPLE_PROTO, m4]);
                    a.jeq(0, Target::L(try6), Target::L(have));
                    a.bind(try6);
                    a.find_path(&[CTA_TUPLE_ORIG, CTA_TUPLE_PROTO, m6]);
                    a.absent_check();
                    a.bind(have);
                    a.op(BPF_MISC | BPF_TAX, 0);
                    a.op(BPF_LD | size | BPF_IND, 4);
                },
                |a, v, h, mi| a.jeq(*v, h, mi),
            )?;
        }
        if self.tcp_state.active() {
            a.block(
                &self.tcp_state,
                |a| {
                    a.load_path(
                        &[CTA_PROTOINFO, CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE],
                        BPF_B,
                    )
                },
                |a, v, h, m| a.jeq(u32::from(*v), h, m),
            )?;
        }
        // Masked 32-bit words: the value is kept in scratch memory, masked per candidate.
        for (crit, attr) in [(&self.mark, CTA_MARK), (&self.status, CTA_STATUS)] {
            if crit.active() {
                a.block(
                    crit,
                    |a| {
                        a.load_top_or_zero(attr, BPF_W);
                        a.op(BPF_ST, 0);
                    },
                    |a, &(v, m), h, mi| {
                        a.op(BPF_LD | BPF_MEM, 0);
                        a.op(BPF_ALU | BPF_AND | BPF_K, m);
                        a.jeq(v & m, h, mi);
                    },
                )?;
            }
        }
        if self.zone.active() {
            a.block(
                &self.zone,
                |a| a.load_top_or_zero(CTA_ZONE, BPF_H),
                |a, v, h, m| a.jeq(u32::from(*v), h, m),
            )?;
        }
        for (m, attr) in [(&self.secmark, CTA_SECMARK), (&self.id, CTA_ID)] {
            if m.active() {
                a.block(
                    m,
                    |a| a.load_top_or_zero(attr, BPF_W),
                    |a, v, h, mi| a.jeq(*v, h, mi),
                )?;
            }
        }
        a.finish()
    }
}

impl Dir {
    fn attr(self) -> u16 {
        match self {
            Dir::Orig => CTA_TUPLE_ORIG,
            Dir::Reply => CTA_TUPLE_REPLY,
        }
    }
}

// ---------------------------------------------------------------- the assembler

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The next instruction.
    Next,
    /// A label.
    L(usize),
    /// The final `ret #-1`.
    Accept,
    /// The final `ret #0`.
    Reject,
    /// The current block's "absent" label.
    Absent,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Op(Insn),
    Jeq { k: u32, jt: Target, jf: Target },
    Ja(Target),
    Label(usize),
}

#[derive(Debug, Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
    absent: Vec<usize>,
}

/// Values per chunk: at most 12 instructions each (IPv6), so chunk jumps stay under 255.
const CHUNK: usize = 16;

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn bind(&mut self, l: usize) {
        self.items.push(Item::Label(l));
    }
    fn op(&mut self, code: u16, k: u32) {
        self.items.push(Item::Op(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn jeq(&mut self, k: u32, jt: Target, jf: Target) {
        // "Absent" means the innermost open block's absent label (reject outside any block).
        let fix = |t: Target, absent: Option<&usize>| match (t, absent) {
            (Target::Absent, Some(l)) => Target::L(*l),
            (Target::Absent, None) => Target::Reject,
            (t, _) => t,
        };
        let a = self.absent.last();
        let (jt, jf) = (fix(jt, a), fix(jf, a));
        self.items.push(Item::Jeq { k, jt, jf });
    }
    fn ja(&mut self, t: Target) {
        self.items.push(Item::Ja(t));
    }

    /// A = offset of the attribute at `path` (top-level type first), or 0 if absent.
    fn find_path(&mut self, path: &[u16]) {
        let mut first = true;
        for &t in path {
            if first {
                // SKF_AD_NLATTR: A = offset where the search starts, X = attribute type.
                self.op(BPF_LD | BPF_IMM, (NLMSG_HDRLEN + 4) as u32);
                self.op(BPF_LDX | BPF_IMM, u32::from(t));
                self.op(
                    BPF_LD | BPF_W | BPF_ABS,
                    SKF_AD_OFF.wrapping_add(SKF_AD_NLATTR),
                );
                first = false;
            } else {
                // SKF_AD_NLATTR_NEST: A = offset of the nest, X = attribute type.
                self.jeq(0, Target::Absent, Target::Next);
                self.op(BPF_LDX | BPF_IMM, u32::from(t));
                self.op(
                    BPF_LD | BPF_W | BPF_ABS,
                    SKF_AD_OFF.wrapping_add(SKF_AD_NLATTR_NEST),
                );
            }
        }
    }

    fn absent_check(&mut self) {
        self.jeq(0, Target::Absent, Target::Next);
    }

    /// A = the payload of the attribute at `path`, loaded as `size`; jumps to "absent" if any
    /// level is missing.
    fn load_path(&mut self, path: &[u16], size: u16) {
        self.find_path(path);
        self.absent_check();
        self.op(BPF_MISC | BPF_TAX, 0);
        self.op(BPF_LD | size | BPF_IND, 4);
    }

    /// A = the payload of top-level attribute `t`, or 0 when absent.
    fn load_top_or_zero(&mut self, t: u16, size: u16) {
        self.find_path(&[t]);
        let have = self.label();
        let done = self.label();
        self.jeq(0, Target::Next, Target::L(have));
        self.ja(Target::L(done)); // A is already 0
        self.bind(have);
        self.op(BPF_MISC | BPF_TAX, 0);
        self.op(BPF_LD | size | BPF_IND, 4);
        self.bind(done);
    }

    /// Runs `f` only for events of `family`; others skip the criterion.
    fn only_family(
        &mut self,
        family: u8,
        f: impl FnOnce(&mut Self) -> Result<(), BpfError>,
    ) -> Result<(), BpfError> {
        let skip = self.label();
        let run = self.label();
        self.op(BPF_LD | BPF_B | BPF_ABS, 16);
        self.jeq(u32::from(family), Target::L(run), Target::Next);
        self.ja(Target::L(skip)); // the criterion may be long: a 32-bit jump over it
        self.bind(run);
        f(self)?;
        self.bind(skip);
        Ok(())
    }

    /// Emits one criterion: `load` puts the value where `cmp` expects it (jumping to
    /// "absent" if the attribute is missing), then each value is
    /// compared in chunks; a hit goes to the block's end (or to reject, negated).
    fn block<T>(
        &mut self,
        m: &Match<T>,
        load: impl FnOnce(&mut Self),
        mut cmp: impl FnMut(&mut Self, &T, Target, Target),
    ) -> Result<(), BpfError> {
        let end = self.label();
        let absent = self.label();
        let hit_l = self.label();
        // The load's "absent" jumps are conditional: they go to a trampoline right after it.
        let near_absent = self.label();
        let compare = self.label();
        self.absent.push(near_absent);
        load(self);
        self.ja(Target::L(compare));
        self.bind(near_absent);
        self.ja(Target::L(absent));
        self.bind(compare);
        // Values are compared in chunks whose conditional jumps stay short: a hit jumps to the
        // chunk's own trampoline, which reaches the block's hit label with a 32-bit jump.
        for chunk in m.values.chunks(CHUNK) {
            let chunk_hit = self.label();
            let chunk_miss = self.label();
            for (i, v) in chunk.iter().enumerate() {
                let next = self.label();
                let miss = if i + 1 == chunk.len() {
                    Target::L(chunk_miss)
                } else {
                    Target::L(next)
                };
                cmp(self, v, Target::L(chunk_hit), miss);
                self.bind(next);
            }
            self.bind(chunk_hit);
            self.ja(Target::L(hit_l));
            self.bind(chunk_miss);
        }
        // no value matched
        self.bind(absent);
        self.ja(if m.negate {
            Target::L(end)
        } else {
            Target::Reject
        });
        self.bind(hit_l);
        self.ja(if m.negate {
            Target::Reject
        } else {
            Target::L(end)
        });
        self.bind(end);
        self.absent.pop();
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Insn>, BpfError> {
        // layout: code..., ACCEPT: ret #-1, REJECT: ret #0
        let accept = self.label();
        let reject = self.label();
        self.bind(accept);
        self.op(BPF_RET | BPF_K, u32::MAX);
        self.bind(reject);
        self.op(BPF_RET | BPF_K, 0);
        let mut pos = alloc::vec![0usize; self.labels];
        let mut n = 0;
        for it in &self.items {
            match it {
                Item::Label(l) => {
                    if let Some(p) = pos.get_mut(*l) {
                        *p = n;
                    }
                }
                _ => n += 1,
            }
        }
        if n > BPF_MAXINSNS {
            return Err(BpfError::TooLong { len: n });
        }
        let resolve = |t: Target, at: usize| -> usize {
            match t {
                Target::Next => at + 1,
                Target::Absent => pos.get(reject).copied().unwrap_or(at + 1),
                Target::L(l) => pos.get(l).copied().unwrap_or(at + 1),
                Target::Accept => pos.get(accept).copied().unwrap_or(at + 1),
                Target::Reject => pos.get(reject).copied().unwrap_or(at + 1),
            }
        };
        let mut out = Vec::with_capacity(n);
        for it in &self.items {
            let at = out.len();
            match *it {
                Item::Label(_) => {}
                Item::Op(i) => out.push(i),
                Item::Ja(t) => {
                    let to = resolve(t, at);
                    let off = to
                        .checked_sub(at + 1)
                        .ok_or(BpfError::JumpOutOfRange { at })?;
                    out.push(Insn {
                        code: BPF_JMP | BPF_JA,
                        jt: 0,
                        jf: 0,
                        k: off as u32,
                    });
                }
                Item::Jeq { k, jt, jf } => {
                    let off = |t| -> Result<u8, BpfError> {
                        let to = resolve(t, at);
                        let d = to
                            .checked_sub(at + 1)
                            .ok_or(BpfError::JumpOutOfRange { at })?;
                        u8::try_from(d).map_err(|_| BpfError::JumpOutOfRange { at })
                    };
                    out.push(Insn {
                        code: BPF_JMP | BPF_JEQ | BPF_K,
                        jt: off(jt)?,
                        jf: off(jf)?,
                        k,
                    });
                }
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- the interpreter

fn nla_find(pkt: &[u8], mut off: usize, end: usize, kind: u32) -> u32 {
    while off + 4 <= end {
        let (Some(l), Some(t)) = (arr::<2>(pkt, off), arr::<2>(pkt, off + 2)) else {
            return 0;
        };
        let len = usize::from(u16::from_ne_bytes(l));
        let t = u16::from_ne_bytes(t) & NLA_TYPE_MASK;
        if len < 4 || off + len > end {
            return 0;
        }
        if u32::from(t) == kind {
            return off as u32;
        }
        off += (len + 3) & !3;
    }
    0
}

/// Runs a classic BPF program over `pkt` as the kernel would for a netlink socket filter,
/// including the `SKF_AD_NLATTR` and `SKF_AD_NLATTR_NEST` extensions; returns the program's
/// verdict (0 drops the message). Loads outside the packet end the program with 0, as in the
/// kernel. Only the instructions this compiler emits, plus common ALU and jump forms, are
/// supported; anything else returns 0.
pub fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let load = |off: u32, size: u16| -> Option<u32> {
        let o = off as usize;
        match size {
            BPF_W => arr::<4>(pkt, o).map(u32::from_be_bytes),
            BPF_H => arr::<2>(pkt, o).map(|b| u32::from(u16::from_be_bytes(b))),
            _ => pkt.get(o).map(|b| u32::from(*b)),
        }
    };
    for _ in 0..=prog.len() {
        let Some(i) = prog.get(pc) else { return 0 };
        pc += 1;
        let class = i.code & 0x07;
        match class {
            BPF_LD => {
                let size = i.code & 0x18;
                match i.code & 0xe0 {
                    BPF_IMM => a = i.k,
                    BPF_MEM => a = mem.get(i.k as usize).copied().unwrap_or(0),
                    BPF_ABS if i.k >= SKF_AD_OFF => {
                        let ext = i.k.wrapping_sub(SKF_AD_OFF);
                        let len = pkt.len();
                        a = match ext {
                            // as the kernel's bpf_skb_get_nlattr(skb, a, x): A is the offset
                            // where the search starts, X the type
                            SKF_AD_NLATTR => {
                                if len < 4 || a as usize > len - 4 {
                                    0
                                } else {
                                    nla_find(pkt, a as usize, len, x)
                                }
                            }
                            SKF_AD_NLATTR_NEST => {
                                let o = a as usize;
                                if len < 4 || o > len - 4 {
                                    return 0;
                                }
                                match arr::<2>(pkt, o) {
                                    Some(h) => {
                                        let nl = usize::from(u16::from_ne_bytes(h));
                                        if nl > len - o || nl < 4 {
                                            0
                                        } else {
                                            nla_find(pkt, o + 4, o + nl, x)
                                        }
                                    }
                                    None => 0,
                                }
                            }
                            _ => return 0,
                        };
                    }
                    BPF_ABS => match load(i.k, size) {
                        Some(v) => a = v,
                        None => return 0,
                    },
                    BPF_IND => match load(x.wrapping_add(i.k), size) {
                        Some(v) => a = v,
                        None => return 0,
                    },
                    _ => return 0,
                }
            }
            BPF_LDX => match i.code & 0xe0 {
                BPF_IMM => x = i.k,
                BPF_MEM => x = mem.get(i.k as usize).copied().unwrap_or(0),
                _ => return 0,
            },
            BPF_ST => {
                if let Some(m) = mem.get_mut(i.k as usize) {
                    *m = a;
                }
            }
            BPF_ALU => match i.code & 0xf0 {
                BPF_AND => a &= if i.code & 0x08 == 0 { i.k } else { x },
                BPF_MOD => match if i.code & 0x08 == 0 { i.k } else { x } {
                    0 => return 0, // the kernel refuses the program or ends it with 0
                    d => a %= d,
                },
                _ => return 0,
            },
            BPF_JMP => match i.code & 0xf0 {
                BPF_JA => pc = pc.saturating_add(i.k as usize),
                BPF_JEQ => {
                    let b = if i.code & 0x08 == 0 { i.k } else { x };
                    pc += usize::from(if a == b { i.jt } else { i.jf });
                }
                _ => return 0,
            },
            BPF_RET => return if i.code & 0x18 == 0x10 { a } else { i.k },
            BPF_MISC => match i.code & 0xf8 {
                BPF_TAX => x = a,
                0x80 => a = x, // TXA
                _ => return 0,
            },
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Messages;

    const EVENTS: &[u8] = include_bytes!("../../tests/fixtures/events.bin");

    #[allow(clippy::vec_init_then_push)]
    fn filters() -> Vec<EventFilter> {
        let lo = Ipv4Addr::LOCALHOST;
        // Entry ids of the captured events, for the id criterion.
        let ids: Vec<u32> = Messages::new(EVENTS)
            .filter_map(|m| m.ok()?.conn().ok()?.id())
            .collect();
        let mut v = Vec::new();
        v.push(EventFilter::default());
        v.push(EventFilter {
            l4proto: Match::any([IPPROTO_TCP]),
            ..Default::default()
        });
        v.push(EventFilter {
            l4proto: Match::none([IPPROTO_TCP, IPPROTO_UDP]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_src_v4: Match::any([(lo, 32)]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_src_v4: Match::any([(Ipv4Addr::new(10, 0, 0, 0), 8)]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_dst_v4: Match::none([(lo, 8)]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_src_v6: Match::any([(Ipv6Addr::LOCALHOST, 128)]),
            ..Default::default()
        });
        v.push(EventFilter {
            reply_src_v6: Match::any([("2001:db8::".parse().unwrap(), 32)]),
            ..Default::default()
        });
        v.push(EventFilter {
            family: Match::any([AF_INET6]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_dst_port: Match::any([80, 21, 53]),
            ..Default::default()
        });
        v.push(EventFilter {
            reply_src_port: Match::none([80]),
            ..Default::default()
        });
        v.push(EventFilter {
            tcp_state: Match::any([3]),
            ..Default::default()
        });
        v.push(EventFilter {
            tcp_state: Match::none([3, 7]),
            ..Default::default()
        });
        v.push(EventFilter {
            mark: Match::any([(0x2a, 0xff)]),
            ..Default::default()
        });
        v.push(EventFilter {
            mark: Match::none([(0, u32::MAX)]),
            ..Default::default()
        });
        v.push(EventFilter {
            zone: Match::any([5, 3]),
            ..Default::default()
        });
        v.push(EventFilter {
            zone: Match::any([0]),
            ..Default::default()
        });
        v.push(EventFilter {
            status: Match::any([(IPS_ASSURED, IPS_ASSURED)]),
            ..Default::default()
        });
        v.push(EventFilter {
            status: Match::none([(IPS_SEEN_REPLY, IPS_SEEN_REPLY), (0, IPS_ASSURED)]),
            ..Default::default()
        });
        v.push(EventFilter {
            secmark: Match::none([1, 2]),
            ..Default::default()
        });
        v.push(EventFilter {
            id: Match::any(ids.iter().copied().step_by(2)),
            ..Default::default()
        });
        v.push(EventFilter {
            icmp_type: Match::any([8, 128]),
            ..Default::default()
        });
        v.push(EventFilter {
            icmp_id: Match::none([1]),
            l4proto: Match::any([IPPROTO_ICMP, IPPROTO_ICMPV6]),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_dst_port: Match::any(0..1000u16),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_dst_port: Match::none(0..1000u16),
            ..Default::default()
        });
        v.push(EventFilter {
            orig_src_v6: Match::any(
                (0..300u16).map(|i| (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, i), 128)),
            ),
            ..Default::default()
        });
        v.push(EventFilter {
            l4proto: Match::any([IPPROTO_TCP]),
            orig_src_v4: Match::any([(lo, 32)]),
            orig_dst_port: Match::any((1..=100).collect::<Vec<u16>>()),
            mark: Match::any([(0x2a, 0xffff_ffff), (0, 0xffff_ffff)]),
            ..Default::default()
        });
        for (count, index) in [(1, 0), (2, 0), (2, 1), (3, 2)] {
            v.push(EventFilter {
                shard: Some(Shard { count, index }),
                ..Default::default()
            });
        }
        v.push(EventFilter {
            l4proto: Match::any([IPPROTO_UDP]),
            shard: Some(Shard { count: 2, index: 1 }),
            ..Default::default()
        });
        v
    }

    #[test]
    fn shards_split_the_events_exactly_and_keep_each_entry_whole() {
        let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
        for count in [2u32, 3] {
            let progs: Vec<_> = (0..count)
                .map(|index| {
                    EventFilter {
                        shard: Some(Shard { count, index }),
                        ..Default::default()
                    }
                    .compile()
                    .unwrap()
                })
                .collect();
            let mut owner = alloc::collections::BTreeMap::new();
            let mut per = alloc::vec![0usize; count as usize];
            for m in &msgs {
                let taken: Vec<usize> = (0..progs.len())
                    .filter(|&i| run(&progs[i], m.bytes()) != 0)
                    .collect();
                assert_eq!(taken.len(), 1, "message seq {} in {taken:?}", m.seq());
                per[taken[0]] += 1;
                if let Some(id) = m.conn().ok().and_then(|c| c.id()) {
                    assert_eq!(*owner.entry(id).or_insert(taken[0]), taken[0]);
                }
            }
            assert!(per.iter().all(|&n| n > 0), "{count} shards: {per:?}");
        }
        assert_eq!(
            EventFilter {
                shard: Some(Shard { count: 2, index: 2 }),
                ..Default::default()
            }
            .compile(),
            Err(BpfError::BadShard { count: 2, index: 2 })
        );
        assert!(matches!(
            EventFilter {
                shard: Some(Shard { count: 0, index: 0 }),
                ..Default::default()
            }
            .compile(),
            Err(BpfError::BadShard { .. })
        ));
    }

    #[test]
    fn compiled_programs_agree_with_userspace_on_every_captured_event() {
        let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
        assert!(msgs.len() > 40);
        // Under miri, a sample (the interpreter is slow there); natively, everything.
        let msgs: Vec<_> = msgs
            .into_iter()
            .step_by(if cfg!(miri) { 9 } else { 1 })
            .collect();
        for f in filters()
            .into_iter()
            .step_by(if cfg!(miri) { 4 } else { 1 })
        {
            let prog = f.compile().unwrap();
            let mut hits = 0;
            for m in &msgs {
                let want = f.matches(m);
                let got = run(&prog, m.bytes()) != 0;
                assert_eq!(
                    got,
                    want,
                    "filter {f:?} on message seq {} type {:#x}",
                    m.seq(),
                    m.nlmsg_type()
                );
                hits += usize::from(want);
            }
            let _ = hits;
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "slow under miri; the cross-check above covers the same code"
    )]
    fn filters_select_something_and_reject_something() {
        let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
        for f in filters().into_iter().skip(1) {
            let n = msgs
                .iter()
                .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)) && f.matches(m))
                .count();
            let total = msgs
                .iter()
                .filter(|m| matches!(m.kind(), MessageKind::Conntrack(_)))
                .count();
            assert!(
                n < total
                    || f.mark.negate
                    || f.zone.values == [0]
                    // no captured event carries a secmark (0 for all)
                    || f.secmark.active()
                    || f.shard.is_some_and(|s| s.count == 1),
                "filter {f:?} rejects nothing"
            );
        }
    }

    #[test]
    fn ipv4_criteria_let_ipv6_events_through() {
        let msgs: Vec<_> = Messages::new(EVENTS).map(Result::unwrap).collect();
        let f = EventFilter {
            orig_src_v4: Match::any([(Ipv4Addr::new(192, 0, 2, 1), 32)]),
            ..Default::default()
        };
        let prog = f.compile().unwrap();
        let v6: Vec<_> = msgs
            .iter()
            .filter(|m| m.family() == Ok(AF_INET6) && matches!(m.kind(), MessageKind::Conntrack(_)))
            .collect();
        assert!(!v6.is_empty());
        assert!(v6.iter().all(|m| run(&prog, m.bytes()) != 0));
    }

    #[test]
    fn long_programs_are_refused_not_truncated() {
        let f = EventFilter {
            orig_src_v6: Match::any(
                (0..1000u16).map(|i| (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 128)),
            ),
            ..Default::default()
        };
        assert!(matches!(f.compile(), Err(BpfError::TooLong { .. })));
        let ok = EventFilter {
            orig_dst_port: Match::any(0..1000u16),
            ..Default::default()
        };
        let p = ok.compile().unwrap();
        assert!(p.len() <= BPF_MAXINSNS);
        assert!(matches!(
            EventFilter {
                orig_src_v4: Match::any([(Ipv4Addr::LOCALHOST, 33)]),
                ..Default::default()
            }
            .compile(),
            Err(BpfError::BadPrefix { len: 33 })
        ));
    }

    #[test]
    fn v6_prefix_masks_split_across_words() {
        assert_eq!(v6_masks(40), [u32::MAX, 0xff00_0000, 0, 0]);
        assert_eq!(v6_masks(128), [u32::MAX; 4]);
        assert_eq!(v6_masks(0), [0; 4]);
        assert_eq!(v4_mask(24), 0xffff_ff00);
    }
}
