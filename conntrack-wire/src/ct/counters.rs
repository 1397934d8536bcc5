//! `CTA_COUNTERS_ORIG` / `CTA_COUNTERS_REPLY`: packet and byte accounting.

use crate::consts::*;
use crate::scalar::{Be32, Be64, scalar_nest};

scalar_nest! {
    /// A borrowed counters nest (needs `nf_conntrack_acct=1`).
    view CountersView;
    /// Packet and byte counters of one direction; see [`CountersView`].
    repr Counters;
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

impl Counters {
    /// Returns the packet count, from the 64-bit attribute or else the 32-bit one.
    pub fn packet_count(&self) -> Option<u64> {
        self.packets.or(self.packets32.map(u64::from))
    }

    /// Returns the byte count, from the 64-bit attribute or else the 32-bit one.
    pub fn byte_count(&self) -> Option<u64> {
        self.bytes.or(self.bytes32.map(u64::from))
    }
}
