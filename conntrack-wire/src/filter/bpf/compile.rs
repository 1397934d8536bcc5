//! The compiler: one method per criterion, each appending its block to the program.

use super::asm::*;
use super::eval::{v4_mask, v6_masks, words};
use super::{BpfError, EventFilter, Insn, Match};
use crate::consts::*;
use alloc::vec::Vec;

/// Which tuple a criterion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    Orig,
    Reply,
    Master,
}

impl Dir {
    pub(super) fn attr(self) -> u16 {
        match self {
            Dir::Orig => CTA_TUPLE_ORIG,
            Dir::Reply => CTA_TUPLE_REPLY,
            Dir::Master => CTA_TUPLE_MASTER,
        }
    }
}

impl EventFilter {
    /// Compiles the filter to a classic BPF program for `SO_ATTACH_FILTER`.
    pub fn compile(&self) -> Result<Vec<Insn>, BpfError> {
        let mut a = Asm::default();
        self.emit_only_conntrack_events(&mut a)?;
        self.emit_shard(&mut a)?;
        self.emit_family(&mut a)?;
        self.emit_l4proto(&mut a)?;
        self.emit_ipv4_nets(&mut a)?;
        self.emit_ipv6_nets(&mut a)?;
        self.emit_ports(&mut a)?;
        self.emit_icmp(&mut a)?;
        self.emit_protoinfo(&mut a)?;
        self.emit_tcp_flags(&mut a)?;
        self.emit_masked_words(&mut a)?;
        self.emit_zone(&mut a)?;
        self.emit_words(&mut a)?;
        self.emit_ranges(&mut a)?;
        self.emit_labels(&mut a)?;
        a.finish()
    }

    /// Pass every message that is not a conntrack NEW or DELETE event (other subsystems' go
    /// to shard 0).
    fn emit_only_conntrack_events(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// Keep one share of the events ([`EventFilter::shard`]).
    fn emit_shard(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// The address family (byte 16: `nfgen_family`).
    fn emit_family(&self, a: &mut Asm) -> Result<(), BpfError> {
        // family: byte 16 (nfgen_family)
        if self.family.active() {
            a.block(
                &self.family,
                |a| a.op(BPF_LD | BPF_B | BPF_ABS, 16),
                |a, v, hit, miss| a.jeq(u32::from(*v), hit, miss),
            )?;
        }
        Ok(())
    }

    /// The L4 protocol of the original, reply and master tuples.
    fn emit_l4proto(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, d) in [
            (&self.l4proto, Dir::Orig),
            (&self.reply_l4proto, Dir::Reply),
            (&self.master_l4proto, Dir::Master),
        ] {
            if m.active() {
                a.block(m, proto(d, CTA_PROTO_NUM, BPF_B), |a, v, h, m| {
                    a.jeq(u32::from(*v), h, m)
                })?;
            }
        }
        Ok(())
    }

    /// IPv4 networks of the original, reply and master tuples (IPv4 events only).
    fn emit_ipv4_nets(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, d, src) in [
            (&self.orig_src_v4, Dir::Orig, true),
            (&self.orig_dst_v4, Dir::Orig, false),
            (&self.reply_src_v4, Dir::Reply, true),
            (&self.reply_dst_v4, Dir::Reply, false),
            (&self.master_src_v4, Dir::Master, true),
            (&self.master_dst_v4, Dir::Master, false),
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
        Ok(())
    }

    /// IPv6 networks of the original, reply and master tuples, as four masked words (IPv6
    /// events only).
    fn emit_ipv6_nets(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, d, src) in [
            (&self.orig_src_v6, Dir::Orig, true),
            (&self.orig_dst_v6, Dir::Orig, false),
            (&self.reply_src_v6, Dir::Reply, true),
            (&self.reply_dst_v6, Dir::Reply, false),
            (&self.master_src_v6, Dir::Master, true),
            (&self.master_dst_v6, Dir::Master, false),
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
        Ok(())
    }

    /// Source and destination ports of the original, reply and master tuples.
    fn emit_ports(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, d, attr) in [
            (&self.orig_src_port, Dir::Orig, CTA_PROTO_SRC_PORT),
            (&self.orig_dst_port, Dir::Orig, CTA_PROTO_DST_PORT),
            (&self.reply_src_port, Dir::Reply, CTA_PROTO_SRC_PORT),
            (&self.reply_dst_port, Dir::Reply, CTA_PROTO_DST_PORT),
            (&self.master_src_port, Dir::Master, CTA_PROTO_SRC_PORT),
            (&self.master_dst_port, Dir::Master, CTA_PROTO_DST_PORT),
        ] {
            if m.active() {
                a.block(m, proto(d, attr, BPF_H), |a, v, h, mi| {
                    a.jeq(u32::from(*v), h, mi)
                })?;
            }
        }
        Ok(())
    }

    /// ICMP or ICMPv6 type, code and identifier of the original and reply tuples, whichever
    /// attribute the event has.
    fn emit_icmp(&self, a: &mut Asm) -> Result<(), BpfError> {
        let wide = |m: &Match<u8>| Match {
            values: m.values.iter().map(|v| u32::from(*v)).collect::<Vec<_>>(),
            negate: m.negate,
        };
        let wide16 = |m: &Match<u16>| Match {
            values: m.values.iter().map(|v| u32::from(*v)).collect::<Vec<_>>(),
            negate: m.negate,
        };
        for (m, d, m4, m6, size) in [
            (
                wide(&self.icmp_type),
                Dir::Orig,
                CTA_PROTO_ICMP_TYPE,
                CTA_PROTO_ICMPV6_TYPE,
                BPF_B,
            ),
            (
                wide(&self.icmp_code),
                Dir::Orig,
                CTA_PROTO_ICMP_CODE,
                CTA_PROTO_ICMPV6_CODE,
                BPF_B,
            ),
            (
                wide16(&self.icmp_id),
                Dir::Orig,
                CTA_PROTO_ICMP_ID,
                CTA_PROTO_ICMPV6_ID,
                BPF_H,
            ),
            (
                wide(&self.reply_icmp_type),
                Dir::Reply,
                CTA_PROTO_ICMP_TYPE,
                CTA_PROTO_ICMPV6_TYPE,
                BPF_B,
            ),
            (
                wide(&self.reply_icmp_code),
                Dir::Reply,
                CTA_PROTO_ICMP_CODE,
                CTA_PROTO_ICMPV6_CODE,
                BPF_B,
            ),
            (
                wide16(&self.reply_icmp_id),
                Dir::Reply,
                CTA_PROTO_ICMP_ID,
                CTA_PROTO_ICMPV6_ID,
                BPF_H,
            ),
        ] {
            if !m.active() {
                continue;
            }
            a.block(
                &m,
                |a| {
                    let have = a.label();
                    let try6 = a.label();
                    a.find_path(&[d.attr(), CTA_TUPLE_PROTO, m4]);
                    a.jeq(0, Target::L(try6), Target::L(have));
                    a.bind(try6);
                    a.find_path(&[d.attr(), CTA_TUPLE_PROTO, m6]);
                    a.absent_check();
                    a.bind(have);
                    a.op(BPF_MISC | BPF_TAX, 0);
                    a.op(BPF_LD | size | BPF_IND, 4);
                },
                |a, v, h, mi| a.jeq(*v, h, mi),
            )?;
        }
        Ok(())
    }

    /// Protocol state fields (`CTA_PROTOINFO`): TCP state and window scales, SCTP state and
    /// verification tags, DCCP state and role; events without the field do not match.
    fn emit_protoinfo(&self, a: &mut Asm) -> Result<(), BpfError> {
        let tcp = |f| [CTA_PROTOINFO, CTA_PROTOINFO_TCP, f];
        let sctp = |f| [CTA_PROTOINFO, CTA_PROTOINFO_SCTP, f];
        let dccp = |f| [CTA_PROTOINFO, CTA_PROTOINFO_DCCP, f];
        let wide = |m: &Match<u8>| Match {
            values: m.values.iter().map(|v| u32::from(*v)).collect::<Vec<_>>(),
            negate: m.negate,
        };
        for (m, path, size) in [
            (wide(&self.tcp_state), tcp(CTA_PROTOINFO_TCP_STATE), BPF_B),
            (
                wide(&self.tcp_wscale_orig),
                tcp(CTA_PROTOINFO_TCP_WSCALE_ORIGINAL),
                BPF_B,
            ),
            (
                wide(&self.tcp_wscale_reply),
                tcp(CTA_PROTOINFO_TCP_WSCALE_REPLY),
                BPF_B,
            ),
            (
                wide(&self.sctp_state),
                sctp(CTA_PROTOINFO_SCTP_STATE),
                BPF_B,
            ),
            (
                self.sctp_vtag_orig.clone(),
                sctp(CTA_PROTOINFO_SCTP_VTAG_ORIGINAL),
                BPF_W,
            ),
            (
                self.sctp_vtag_reply.clone(),
                sctp(CTA_PROTOINFO_SCTP_VTAG_REPLY),
                BPF_W,
            ),
            (
                wide(&self.dccp_state),
                dccp(CTA_PROTOINFO_DCCP_STATE),
                BPF_B,
            ),
            (wide(&self.dccp_role), dccp(CTA_PROTOINFO_DCCP_ROLE), BPF_B),
        ] {
            if m.active() {
                a.block(
                    &m,
                    |a| a.load_path(&path, size),
                    |a, v, h, mi| a.jeq(*v, h, mi),
                )?;
            }
        }
        Ok(())
    }

    /// TCP flags of either direction: `(value, mask)` on the flags byte, kept in scratch
    /// memory and masked per candidate; events without them do not match.
    fn emit_tcp_flags(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, f) in [
            (&self.tcp_flags_orig, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL),
            (&self.tcp_flags_reply, CTA_PROTOINFO_TCP_FLAGS_REPLY),
        ] {
            if m.active() {
                a.block(
                    m,
                    |a| {
                        a.load_path(&[CTA_PROTOINFO, CTA_PROTOINFO_TCP, f], BPF_B);
                        a.op(BPF_ST, 0);
                    },
                    |a, &(v, mask), h, mi| {
                        a.op(BPF_LD | BPF_MEM, 0);
                        a.op(BPF_ALU | BPF_AND | BPF_K, u32::from(mask));
                        a.jeq(u32::from(v & mask), h, mi);
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Timeout and use count as inclusive ranges (0 when absent).
    fn emit_ranges(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, attr) in [(&self.timeout, CTA_TIMEOUT), (&self.use_count, CTA_USE)] {
            if m.active() {
                a.block(
                    m,
                    |a| {
                        a.load_top_or_zero(attr, BPF_W);
                        a.op(BPF_ST, 0);
                    },
                    |a, &(lo, hi), h, mi| {
                        let in_lo = a.label();
                        a.op(BPF_LD | BPF_MEM, 0);
                        a.jmp(BPF_JGE, lo, Target::L(in_lo), mi);
                        a.bind(in_lo);
                        a.jmp(BPF_JGT, hi, mi, h);
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Label bits (`CTA_LABELS`, host-endian 32-bit words): a bit is set when the attribute
    /// holds its whole word and the bit is 1; events without labels have none.
    fn emit_labels(&self, a: &mut Asm) -> Result<(), BpfError> {
        if !self.labels.active() {
            return Ok(());
        }
        if let Some(&bit) = self.labels.values.iter().find(|b| **b >= LABEL_BITS) {
            return Err(BpfError::BadLabel { bit });
        }
        // The low and high byte of the host-endian `nla_len`.
        let (len_lo, len_hi) = if cfg!(target_endian = "little") {
            (0, 1)
        } else {
            (1, 0)
        };
        a.block(
            &self.labels,
            |a| {
                a.find_path(&[CTA_LABELS]);
                let have = a.label();
                a.jeq(0, Target::Absent, Target::L(have));
                a.bind(have);
                a.op(BPF_MISC | BPF_TAX, 0); // X = the attribute's offset
            },
            |a, &bit, h, mi| {
                // As the user-space reading: the whole 32-bit word must be there.
                let (byte, need) = (label_byte(bit), 4 + u32::from(bit) / 32 * 4 + 4);
                let (long, check_lo) = (a.label(), a.label());
                a.op(BPF_LD | BPF_B | BPF_IND, len_hi);
                a.jeq(0, Target::L(check_lo), Target::L(long));
                a.bind(check_lo);
                a.op(BPF_LD | BPF_B | BPF_IND, len_lo);
                a.jmp(BPF_JGE, need, Target::L(long), mi);
                a.bind(long);
                a.op(BPF_LD | BPF_B | BPF_IND, 4 + byte);
                a.jmp(BPF_JSET, 1 << (bit % 8), h, mi);
            },
        )
    }

    /// Mark and status: masked 32-bit words, kept in scratch memory and masked per candidate.
    fn emit_masked_words(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// The zone (`CTA_ZONE`, 0 when absent).
    fn emit_zone(&self, a: &mut Asm) -> Result<(), BpfError> {
        if self.zone.active() {
            a.block(
                &self.zone,
                |a| a.load_top_or_zero(CTA_ZONE, BPF_H),
                |a, v, h, m| a.jeq(u32::from(*v), h, m),
            )?;
        }
        Ok(())
    }

    /// Secmark and entry id: 32-bit words, 0 when absent.
    fn emit_words(&self, a: &mut Asm) -> Result<(), BpfError> {
        for (m, attr) in [(&self.secmark, CTA_SECMARK), (&self.id, CTA_ID)] {
            if m.active() {
                a.block(
                    m,
                    |a| a.load_top_or_zero(attr, BPF_W),
                    |a, v, h, mi| a.jeq(*v, h, mi),
                )?;
            }
        }
        Ok(())
    }
}

/// Loads a field of a tuple's protocol nest (`size`: `BPF_B`, `BPF_H` or `BPF_W`).
fn proto(d: Dir, attr: u16, size: u16) -> impl Fn(&mut Asm) {
    move |a: &mut Asm| a.load_path(&[d.attr(), CTA_TUPLE_PROTO, attr], size)
}

/// The label bits a kernel keeps (`NF_CT_LABELS_MAX_SIZE`, 16 bytes).
pub(super) const LABEL_BITS: u16 = 128;

/// The byte of the label bitmap that holds `bit`: 32-bit host-endian words.
pub(super) fn label_byte(bit: u16) -> u32 {
    let (word, in_word) = (u32::from(bit) / 32, u32::from(bit) % 32);
    let byte = if cfg!(target_endian = "little") {
        in_word / 8
    } else {
        3 - in_word / 8
    };
    word * 4 + byte
}
