//! `CTA_STATUS`: the `IPS_*` status bits (uapi `nf_conntrack_common.h`).

use crate::consts::*;

/// Typed `ip_conntrack_status` flags (`CTA_STATUS`, `CTA_STATUS_MASK`; big-endian on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status(pub u32);

impl Status {
    /// `IPS_EXPECTED`.
    pub const EXPECTED: Status = Status(IPS_EXPECTED);
    /// `IPS_SEEN_REPLY`.
    pub const SEEN_REPLY: Status = Status(IPS_SEEN_REPLY);
    /// `IPS_ASSURED`.
    pub const ASSURED: Status = Status(IPS_ASSURED);
    /// `IPS_CONFIRMED` (must be set on a create request).
    pub const CONFIRMED: Status = Status(IPS_CONFIRMED);
    /// `IPS_SRC_NAT`.
    pub const SRC_NAT: Status = Status(IPS_SRC_NAT);
    /// `IPS_DST_NAT`.
    pub const DST_NAT: Status = Status(IPS_DST_NAT);
    /// `IPS_SEQ_ADJUST`.
    pub const SEQ_ADJUST: Status = Status(IPS_SEQ_ADJUST);
    /// `IPS_SRC_NAT_DONE`.
    pub const SRC_NAT_DONE: Status = Status(IPS_SRC_NAT_DONE);
    /// `IPS_DST_NAT_DONE`.
    pub const DST_NAT_DONE: Status = Status(IPS_DST_NAT_DONE);
    /// `IPS_DYING`.
    pub const DYING: Status = Status(IPS_DYING);
    /// `IPS_FIXED_TIMEOUT`.
    pub const FIXED_TIMEOUT: Status = Status(IPS_FIXED_TIMEOUT);
    /// `IPS_TEMPLATE`.
    pub const TEMPLATE: Status = Status(IPS_TEMPLATE);
    /// `IPS_UNTRACKED` / `IPS_NAT_CLASH` (the bit was reused).
    pub const NAT_CLASH: Status = Status(IPS_NAT_CLASH);
    /// `IPS_HELPER`.
    pub const HELPER: Status = Status(IPS_HELPER);
    /// `IPS_OFFLOAD`.
    pub const OFFLOAD: Status = Status(IPS_OFFLOAD);
    /// `IPS_HW_OFFLOAD`.
    pub const HW_OFFLOAD: Status = Status(IPS_HW_OFFLOAD);

    /// Returns the raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Returns whether every bit of `other` is set.
    pub const fn contains(self, other: Status) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the union of two sets.
    pub const fn union(self, other: Status) -> Status {
        Status(self.0 | other.0)
    }

    /// Returns the names of the set bits, as the kernel names them without `IPS_`.
    #[inline]
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        const NAMES: [&str; 16] = [
            "EXPECTED",
            "SEEN_REPLY",
            "ASSURED",
            "CONFIRMED",
            "SRC_NAT",
            "DST_NAT",
            "SEQ_ADJUST",
            "SRC_NAT_DONE",
            "DST_NAT_DONE",
            "DYING",
            "FIXED_TIMEOUT",
            "TEMPLATE",
            "NAT_CLASH",
            "HELPER",
            "OFFLOAD",
            "HW_OFFLOAD",
        ];
        NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

impl core::ops::BitOr for Status {
    type Output = Status;
    #[inline]
    fn bitor(self, rhs: Status) -> Status {
        self.union(rhs)
    }
}

/// Serialised as the list of the names of the bits set (`["CONFIRMED", "ASSURED"]`, the
/// names conntrack-tools accepts with `-u`), a set bit without a name as its number.
#[cfg(feature = "serde")]
impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        for bit in 0..32 {
            if self.0 & (1 << bit) != 0 {
                match Status(1 << bit).names().next() {
                    Some(name) => seq.serialize_element(name)?,
                    None => seq.serialize_element(&bit)?,
                }
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_contains() {
        let s = Status::ASSURED | Status::CONFIRMED | Status::SEEN_REPLY;
        assert!(s.contains(Status::ASSURED));
        assert!(!s.contains(Status::DYING));
        let v: Vec<_> = s.names().collect();
        assert_eq!(v, ["SEEN_REPLY", "ASSURED", "CONFIRMED"]);
    }
}
