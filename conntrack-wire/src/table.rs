//! The validated attribute table behind every view: walk a nest once, check each known
//! attribute's length, record where it is, answer lookups in O(1).

use crate::attr::Attrs;
use crate::error::{Error, Result};

/// The length rule for one known attribute type.
#[derive(Clone, Copy)]
pub(crate) enum Len {
    /// Any length (opaque bytes, padding).
    Any,
    /// Exactly this many bytes.
    Exact(u16),
    /// A string; any length, NUL terminator optional.
    Str,
    /// A flag attribute: empty.
    Flag,
    /// A nest, validated by the given function.
    Nest(fn(&[u8]) -> Result<()>),
}

/// Offsets of the known attributes of one nest. Index `k - 1` holds attribute type `k`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a, const N: usize> {
    data: &'a [u8],
    present: u32,
    slots: [(u16, u16); N],
}

impl<'a, const N: usize> Table<'a, N> {
    /// Walks `data` once, checking every attribute listed in `spec` (type `k` at `spec[k-1]`).
    ///
    /// Unknown types (0 or above `N`) are skipped here and stay reachable through [`Self::attrs`].
    /// When a type repeats, the last one wins, as in the kernel's `nla_parse`.
    pub(crate) fn parse(data: &'a [u8], nest: u16, spec: &[Len; N]) -> Result<Self> {
        const { assert!(N <= 32) };
        let mut t = Table {
            data,
            present: 0,
            slots: [(0, 0); N],
        };
        let base = data.as_ptr() as usize;
        for a in Attrs::new(data) {
            let a = a?;
            let kind = a.kind();
            let Some(idx) = usize::from(kind).checked_sub(1) else {
                continue;
            };
            let Some(rule) = spec.get(idx) else { continue };
            let p = a.payload();
            let ok = match *rule {
                Len::Any | Len::Str => true,
                Len::Exact(n) => p.len() == usize::from(n),
                Len::Flag => p.is_empty(),
                Len::Nest(check) => {
                    check(p)?;
                    true
                }
            };
            if !ok {
                return Err(Error::BadAttrLen {
                    kind,
                    nest,
                    len: p.len(),
                });
            }
            // Offsets fit in u16: a nest is at most 65,535 bytes (nla_len is a u16); a
            // top-level message is checked by the caller to be under 64 KiB as well.
            let off = (p.as_ptr() as usize).wrapping_sub(base);
            let (Ok(off), Ok(len)) = (u16::try_from(off), u16::try_from(p.len())) else {
                return Err(Error::BadAttrLen {
                    kind,
                    nest,
                    len: p.len(),
                });
            };
            if let Some(slot) = t.slots.get_mut(idx) {
                *slot = (off, len);
                t.present |= 1 << idx;
            }
        }
        Ok(t)
    }

    /// Returns the payload of attribute type `kind`, if present.
    #[inline]
    pub(crate) fn get(&self, kind: u16) -> Option<&'a [u8]> {
        let idx = usize::from(kind).checked_sub(1)?;
        if idx >= N || self.present & (1 << idx) == 0 {
            return None;
        }
        let (off, len) = *self.slots.get(idx)?;
        self.data
            .get(usize::from(off)..usize::from(off) + usize::from(len))
    }

    /// Returns whether attribute type `kind` is present.
    #[inline]
    pub(crate) fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    /// Returns all attributes of the nest, known and unknown, in wire order.
    #[inline]
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        Attrs::new(self.data)
    }

    /// Returns the raw bytes of the nest.
    #[inline]
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.data
    }
}
