//! The assembler: labels, range-checked jumps, chunked blocks, and the opcodes.

use super::{BPF_MAXINSNS, BpfError, Insn, Match};
use crate::consts::*;
use alloc::vec::Vec;

pub(super) const BPF_LD: u16 = 0x00;
pub(super) const BPF_LDX: u16 = 0x01;
pub(super) const BPF_ST: u16 = 0x02;
pub(super) const BPF_ALU: u16 = 0x04;
pub(super) const BPF_JMP: u16 = 0x05;
pub(super) const BPF_RET: u16 = 0x06;
pub(super) const BPF_MISC: u16 = 0x07;
pub(super) const BPF_W: u16 = 0x00;
pub(super) const BPF_H: u16 = 0x08;
pub(super) const BPF_B: u16 = 0x10;
pub(super) const BPF_IMM: u16 = 0x00;
pub(super) const BPF_ABS: u16 = 0x20;
pub(super) const BPF_IND: u16 = 0x40;
pub(super) const BPF_MEM: u16 = 0x60;
pub(super) const BPF_AND: u16 = 0x50;
pub(super) const BPF_MOD: u16 = 0x90;
pub(super) const BPF_JA: u16 = 0x00;
pub(super) const BPF_JEQ: u16 = 0x10;
pub(super) const BPF_JGT: u16 = 0x20;
pub(super) const BPF_JGE: u16 = 0x30;
pub(super) const BPF_JSET: u16 = 0x40;
pub(super) const BPF_K: u16 = 0x00;
pub(super) const BPF_TAX: u16 = 0x00;
pub(super) const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
pub(super) const SKF_AD_NLATTR: u32 = 12;
pub(super) const SKF_AD_NLATTR_NEST: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
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
pub(super) enum Item {
    Op(Insn),
    /// A conditional jump: `BPF_JEQ`, `BPF_JGT`, `BPF_JGE` or `BPF_JSET` against `k`.
    J {
        op: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Ja(Target),
    Label(usize),
}

#[derive(Debug, Default)]
pub(super) struct Asm {
    items: Vec<Item>,
    labels: usize,
    absent: Vec<usize>,
}

/// Values per chunk: at most 12 instructions each (IPv6), so chunk jumps stay under 255.
pub(super) const CHUNK: usize = 16;

impl Asm {
    pub(super) fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    pub(super) fn bind(&mut self, l: usize) {
        self.items.push(Item::Label(l));
    }
    pub(super) fn op(&mut self, code: u16, k: u32) {
        self.items.push(Item::Op(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    pub(super) fn jeq(&mut self, k: u32, jt: Target, jf: Target) {
        self.jmp(BPF_JEQ, k, jt, jf);
    }

    /// A conditional jump (`op`: `BPF_JEQ`, `BPF_JGT`, `BPF_JGE` or `BPF_JSET`) on `A op k`.
    pub(super) fn jmp(&mut self, op: u16, k: u32, jt: Target, jf: Target) {
        // "Absent" means the innermost open block's absent label (reject outside any block).
        let fix = |t: Target, absent: Option<&usize>| match (t, absent) {
            (Target::Absent, Some(l)) => Target::L(*l),
            (Target::Absent, None) => Target::Reject,
            (t, _) => t,
        };
        let a = self.absent.last();
        let (jt, jf) = (fix(jt, a), fix(jf, a));
        self.items.push(Item::J { op, k, jt, jf });
    }
    pub(super) fn ja(&mut self, t: Target) {
        self.items.push(Item::Ja(t));
    }

    /// A = offset of the attribute at `path` (top-level type first), or 0 if absent.
    pub(super) fn find_path(&mut self, path: &[u16]) {
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

    pub(super) fn absent_check(&mut self) {
        self.jeq(0, Target::Absent, Target::Next);
    }

    /// A = the payload of the attribute at `path`, loaded as `size`; jumps to "absent" if any
    /// level is missing.
    pub(super) fn load_path(&mut self, path: &[u16], size: u16) {
        self.find_path(path);
        self.absent_check();
        self.op(BPF_MISC | BPF_TAX, 0);
        self.op(BPF_LD | size | BPF_IND, 4);
    }

    /// A = the payload of top-level attribute `t`, or 0 when absent.
    pub(super) fn load_top_or_zero(&mut self, t: u16, size: u16) {
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
    pub(super) fn only_family(
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
    pub(super) fn block<T>(
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

    pub(super) fn finish(mut self) -> Result<Vec<Insn>, BpfError> {
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
                Item::J { op, k, jt, jf } => {
                    let off = |t| -> Result<u8, BpfError> {
                        let to = resolve(t, at);
                        let d = to
                            .checked_sub(at + 1)
                            .ok_or(BpfError::JumpOutOfRange { at })?;
                        u8::try_from(d).map_err(|_| BpfError::JumpOutOfRange { at })
                    };
                    out.push(Insn {
                        code: BPF_JMP | op | BPF_K,
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
