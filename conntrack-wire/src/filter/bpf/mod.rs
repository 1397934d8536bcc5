//! A classic-BPF compiler for kernel-side event filtering (feature `alloc`).
//!
//! The filter language is that of libnetfilter_conntrack's `nfct_filter` and go-conntrack's
//! `RegisterFiltered`: original, reply and master addresses with masks, ports, L3/L4
//! protocols, ICMP fields of both tuples, TCP state, flags (with masks) and window scales,
//! SCTP state and verification tags, DCCP state and role, mark with mask, zone, status bits
//! with mask, secmark, entry id, timeout and use ranges, label bits; OR within one attribute,
//! AND across attributes, and negation per attribute. Every criterion compiles to BPF. Unlike
//! those two:
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

mod asm;
mod compile;
mod eval;
mod event_filter;
mod interp;
#[cfg(test)]
mod tests;

pub use event_filter::{EventFilter, Match, Shard, V4Net, V6Net};
pub use interp::run;

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
    /// A label bit the kernel does not keep (it keeps bits 0 to 127).
    BadLabel {
        /// The bit given.
        bit: u16,
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
            BpfError::BadLabel { bit } => {
                write!(f, "label bit {bit}: the kernel keeps bits 0 to 127")
            }
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
