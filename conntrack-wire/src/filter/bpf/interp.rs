//! An interpreter for the programs, with the kernel's netlink-attribute extensions.
//!
//! Public because a program can be checked offline with it: against captured events (this
//! crate's tests and the fuzz target compare its verdicts with [`EventFilter::matches`]), or
//! a foreign program (go-conntrack's) against this crate's.
//!
//! [`EventFilter::matches`]: super::EventFilter::matches

use super::Insn;
use super::asm::*;
use super::eval::arr;
use crate::consts::*;

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
// Long: one match arm per opcode: the interpreter is its dispatch table.
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
                op @ (BPF_JEQ | BPF_JGT | BPF_JGE | BPF_JSET) => {
                    let b = if i.code & 0x08 == 0 { i.k } else { x };
                    let taken = match op {
                        BPF_JEQ => a == b,
                        BPF_JGT => a > b,
                        BPF_JGE => a >= b,
                        _ => a & b != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
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
