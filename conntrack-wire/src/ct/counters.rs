//! `CTA_COUNTERS_ORIG` / `CTA_COUNTERS_REPLY`: packet and byte accounting.

use crate::consts::*;
use crate::emit::Emitter;
use crate::scalar::{Be32, Be64, scalar_nest};

scalar_nest! {
    /// A borrowed counters nest (needs `nf_conntrack_acct=1`).
    view CountersView;
    nest CTA_COUNTERS_ORIG, max 5;
    /// Returns the packet count (`CTA_COUNTERS_PACKETS`, 64-bit big-endian).
    packets: CTA_COUNTERS_PACKETS => Be64;
    /// Returns the byte count (`CTA_COUNTERS_BYTES`, 64-bit big-endian).
    bytes: CTA_COUNTERS_BYTES => Be64;
    /// Returns the old 32-bit packet count (`CTA_COUNTERS32_PACKETS`).
    packets32: CTA_COUNTERS32_PACKETS => Be32;
    /// Returns the old 32-bit byte count (`CTA_COUNTERS32_BYTES`).
    bytes32: CTA_COUNTERS32_BYTES => Be32;
}

impl CountersView<'_> {
    /// Returns the packet count, from the 64-bit attribute or else the 32-bit one.
    #[inline]
    pub fn packet_count(&self) -> Option<u64> {
        self.packets().or(self.packets32().map(u64::from))
    }

    /// Returns the byte count, from the 64-bit attribute or else the 32-bit one.
    #[inline]
    pub fn byte_count(&self) -> Option<u64> {
        self.bytes().or(self.bytes32().map(u64::from))
    }
}

/// Packet and byte counters of one direction; see [`CountersView`].
///
/// Two plain numbers (16 bytes), so that an owned entry stays small: a count the kernel sent
/// only in the old 32-bit attributes (`CTA_COUNTERS32_*`, which no kernel since 2.6.x sends)
/// is widened, and a count missing from the nest is 0. [`Counters::emit`] writes the 64-bit
/// attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Counters {
    /// Packets (`CTA_COUNTERS_PACKETS`).
    pub packets: u64,
    /// Bytes (`CTA_COUNTERS_BYTES`).
    pub bytes: u64,
}

impl Counters {
    /// Counters of `packets` packets and `bytes` bytes.
    #[inline]
    pub fn new(packets: u64, bytes: u64) -> Self {
        Counters { packets, bytes }
    }

    /// Copies the counts out of a view (see the type's note on the 32-bit attributes).
    #[inline]
    pub fn parse(v: &CountersView<'_>) -> Self {
        Counters {
            packets: v.packet_count().unwrap_or(0),
            bytes: v.byte_count().unwrap_or(0),
        }
    }

    /// Emits the counts as the content of a nest (without the nest header).
    #[inline]
    pub fn emit(&self, e: &mut Emitter<'_>) {
        e.put_u64_be(CTA_COUNTERS_PACKETS, self.packets);
        e.put_u64_be(CTA_COUNTERS_BYTES, self.bytes);
    }

    /// Emits the counts as a nest of type `kind`.
    #[inline]
    pub fn emit_nest(&self, e: &mut Emitter<'_>, kind: u16) {
        e.nest(kind, |e| self.emit(e));
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for CountersView<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", Counters::parse(self))
    }
}
