//! The validated attribute table behind every view: walk a nest once, check each known
//! attribute's length, record where it is, answer lookups in O(1).

use crate::attr::Attrs;
use crate::error::{Error, Result};

/// The length rule for one known attribute type: an exact payload length (or any), and for a
/// nest the function that validates its content. A plain struct rather than an enum, so the
/// hot loop tests two predictable conditions instead of taking an indirect jump.
#[derive(Clone, Copy)]
pub(crate) struct Len {
    exact: u16,
    nest: Option<NestCheck>,
}

/// Validates the content of a nest.
type NestCheck = fn(&[u8]) -> Result<()>;

const ANY: u16 = u16::MAX;

#[allow(non_upper_case_globals, non_snake_case)]
impl Len {
    /// Any length (opaque bytes, padding).
    pub(crate) const Any: Len = Len {
        exact: ANY,
        nest: None,
    };
    /// A string; any length, NUL terminator optional.
    pub(crate) const Str: Len = Len {
        exact: ANY,
        nest: None,
    };
    /// A flag attribute: empty.
    pub(crate) const Flag: Len = Len {
        exact: 0,
        nest: None,
    };

    /// Exactly `n` bytes.
    pub(crate) const fn Exact(n: u16) -> Len {
        Len {
            exact: n,
            nest: None,
        }
    }

    /// A nest, validated by `check`.
    pub(crate) const fn Nest(check: NestCheck) -> Len {
        Len {
            exact: ANY,
            nest: Some(check),
        }
    }
}

/// Offsets of the known attributes of one nest. Index `k - 1` holds attribute type `k`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a, const N: usize> {
    data: &'a [u8],
    present: u32,
    /// `offset << 16 | length` of each known attribute's payload: small, so views stay cheap
    /// to copy. Nests are at most 65,535 bytes long, so both halves fit.
    slots: [u32; N],
}

impl<'a, const N: usize> Table<'a, N> {
    /// Walks `data` once, checking every attribute listed in `spec` (type `k` at `spec[k-1]`).
    ///
    /// Unknown types (0 or above `N`) are skipped here and stay reachable through [`Self::attrs`].
    /// When a type repeats, the last one wins, as in the kernel's `nla_parse`.
    #[inline]
    pub(crate) fn parse(data: &'a [u8], nest: u16, spec: &[Len; N]) -> Result<Self> {
        let mut t = Table::empty(data)?;
        t.index(0, data.len(), nest, spec, 0)?;
        Ok(t)
    }

    /// An empty index over `data` (at most 65,535 bytes: only a top-level message could be
    /// longer, since a nest's length is a u16, and the kernel never builds one).
    #[inline]
    pub(crate) fn empty(data: &'a [u8]) -> Result<Self> {
        const { assert!(N <= 32) };
        if data.len() > usize::from(u16::MAX) {
            return Err(Error::BadAttrLen {
                kind: 0,
                nest: 0,
                len: data.len(),
            });
        }
        Ok(Table {
            data,
            present: 0,
            slots: [0; N],
        })
    }

    /// Indexes the attributes in `data[start..end]` (a nest inside this table's bytes) into
    /// slots `base..base + spec.len()`: type `k` goes to slot `base + k - 1`. Offsets stay
    /// relative to the table's bytes, so one table can index a nest and its sub-nests.
    #[inline]
    pub(crate) fn index(
        &mut self,
        start: usize,
        end: usize,
        nest: u16,
        spec: &[Len],
        base: usize,
    ) -> Result<()> {
        let data = self.data;
        let end = end.min(data.len());
        let mut off = start;
        // One pass, no iterator: this is the hottest loop of the decoder.
        while off < end {
            let hdr = data
                .get(off..off + 4)
                .and_then(|s| <&[u8; 4]>::try_from(s).ok());
            let Some(&[l0, l1, t0, t1]) = hdr else {
                return Err(Error::Truncated {
                    need: 4,
                    have: end - off,
                });
            };
            let nla_len = u16::from_ne_bytes([l0, l1]);
            let len = usize::from(nla_len);
            if len < 4 {
                return Err(Error::BadNlaLen { len: nla_len });
            }
            if len > end - off {
                return Err(Error::Truncated {
                    need: len,
                    have: end - off,
                });
            }
            let kind = u16::from_ne_bytes([t0, t1]) & crate::consts::NLA_TYPE_MASK;
            let plen = len - 4;
            if let Some(idx) = usize::from(kind).checked_sub(1) {
                if let Some(rule) = spec.get(idx) {
                    if rule.exact != ANY && usize::from(rule.exact) != plen {
                        return Err(Error::BadAttrLen {
                            kind,
                            nest,
                            len: plen,
                        });
                    }
                    if let Some(check) = rule.nest {
                        check(data.get(off + 4..off + len).unwrap_or(&[]))?;
                    }
                    if let Some(slot) = self.slots.get_mut(base + idx) {
                        // off + 4 <= 65535 (checked in `empty`) and plen < 65536: both fit
                        *slot = ((off + 4) as u32) << 16 | plen as u32;
                        self.present |= 1 << (base + idx);
                    }
                }
            }
            // The last attribute may omit its trailing padding.
            off += (len + 3) & !3;
        }
        Ok(())
    }

    /// Returns the (offset, length) of slot `idx`, if filled.
    #[inline]
    pub(crate) fn slot(&self, idx: usize) -> Option<(usize, usize)> {
        if idx >= N || self.present & (1 << idx) == 0 {
            return None;
        }
        let v = *self.slots.get(idx)?;
        Some(((v >> 16) as usize, (v & 0xffff) as usize))
    }

    /// Returns the payload in slot `idx`, if filled.
    #[inline]
    pub(crate) fn get_idx(&self, idx: usize) -> Option<&'a [u8]> {
        let (off, len) = self.slot(idx)?;
        self.data.get(off..off + len)
    }

    /// Returns the payload of attribute type `kind`, if present.
    #[inline]
    pub(crate) fn get(&self, kind: u16) -> Option<&'a [u8]> {
        let idx = usize::from(kind).checked_sub(1)?;
        if idx >= N || self.present & (1 << idx) == 0 {
            return None;
        }
        let v = *self.slots.get(idx)?;
        let (off, len) = ((v >> 16) as usize, (v & 0xffff) as usize);
        self.data.get(off..off + len)
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
