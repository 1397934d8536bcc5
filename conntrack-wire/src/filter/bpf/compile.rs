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
}

impl Dir {
    pub(super) fn attr(self) -> u16 {
        match self {
            Dir::Orig => CTA_TUPLE_ORIG,
            Dir::Reply => CTA_TUPLE_REPLY,
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
        self.emit_tcp_state(&mut a)?;
        self.emit_masked_words(&mut a)?;
        self.emit_zone(&mut a)?;
        self.emit_words(&mut a)?;
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

    /// The original tuple's L4 protocol.
    fn emit_l4proto(&self, a: &mut Asm) -> Result<(), BpfError> {
        if self.l4proto.active() {
            a.block(
                &self.l4proto,
                proto(Dir::Orig, CTA_PROTO_NUM, BPF_B),
                |a, v, h, m| a.jeq(u32::from(*v), h, m),
            )?;
        }
        Ok(())
    }

    /// IPv4 networks of either tuple (IPv4 events only).
    fn emit_ipv4_nets(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// IPv6 networks of either tuple, as four masked words (IPv6 events only).
    fn emit_ipv6_nets(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// Source and destination ports of either tuple.
    fn emit_ports(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// ICMP or ICMPv6 type, code and identifier, whichever the event has.
    fn emit_icmp(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
    }

    /// The TCP state.
    fn emit_tcp_state(&self, a: &mut Asm) -> Result<(), BpfError> {
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
        Ok(())
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
