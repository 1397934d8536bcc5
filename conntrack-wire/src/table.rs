//! The validated attribute table behind every view: walk a nest once, check each known
//! attribute's length, record where it is, answer lookups in O(1).
//!
//! A table can also index the nests inside a nest (rule [`Len::Index`]) into further slots of
//! the same array, so that one walk of a message validates and indexes everything its hot
//! getters read; a sub-view is then a copy of a run of slots, not a second walk.

use crate::attr::Attrs;
use crate::error::{Error, Result};
use crate::shape::{Shape, Shapes};

/// The rule for one known attribute type: an exact payload length (or any), and what to do
/// with a nest's content. A plain struct, so the hot loop tests predictable conditions.
#[derive(Clone, Copy)]
pub(crate) struct Len {
    exact: u16,
    nest: Nest,
}

/// What the walk does with the content of a nested attribute.
#[derive(Clone, Copy)]
enum Nest {
    /// Not a nest (or opaque).
    No,
    /// Validate the content with this function; its view re-walks it on demand (rare nests).
    Check(NestCheck),
    /// Index the content in place, through [`Schema::nested`].
    Index,
}

/// Validates the content of a nest.
pub(crate) type NestCheck = fn(&[u8]) -> Result<()>;

const ANY: u16 = u16::MAX;

#[allow(non_upper_case_globals, non_snake_case)]
impl Len {
    /// Any length (opaque bytes, padding).
    pub(crate) const Any: Len = Len {
        exact: ANY,
        nest: Nest::No,
    };
    /// A string; any length, NUL terminator optional.
    pub(crate) const Str: Len = Len::Any;
    /// A flag attribute: empty.
    pub(crate) const Flag: Len = Len::Exact(0);

    /// Exactly `n` bytes.
    pub(crate) const fn Exact(n: u16) -> Len {
        Len {
            exact: n,
            nest: Nest::No,
        }
    }

    /// A nest, validated by `check`.
    pub(crate) const fn Nest(check: NestCheck) -> Len {
        Len {
            exact: ANY,
            nest: Nest::Check(check),
        }
    }

    /// A nest indexed in place by the schema's [`Schema::nested`].
    pub(crate) const Index: Len = Len {
        exact: ANY,
        nest: Nest::Index,
    };
}

/// The layout of a nest that is indexed in place, sub-nests and all: its rules, how many
/// slots it fills, and where its sub-nests go. Each schema gets its own instance of the walk,
/// so the rules are constants there and the sub-nest walks are direct calls.
pub(crate) trait Schema {
    /// Rule `k - 1` is for attribute type `k`.
    const RULES: &'static [Len];
    /// Slots the nest fills: its own `RULES.len()`, then its sub-nests' runs.
    const SLOTS: usize;

    /// Indexes the content (`data[start..end]`) of sub-nest `kind`, whose rule is
    /// [`Len::Index`], into `slots` (this nest's run); typically with [`sub`].
    #[inline]
    fn nested<R: Record>(
        _kind: u16,
        _data: &[u8],
        _start: usize,
        _end: usize,
        _slots: &mut [u16],
        _rec: &mut R,
    ) -> Result<()> {
        Ok(())
    }
}

/// Implements [`Schema::nested`] for a schema whose sub-nests are indexed in place: each
/// listed attribute type is walked with its schema into the run of slots at its base.
///
/// ```text
/// index_nests! {
///     CTA_TUPLE_IP => IpSchema, at IP;
///     CTA_TUPLE_PROTO => ProtoSchema, at PROTO;
/// }
/// ```
macro_rules! index_nests {
    ($($kind:pat => $schema:ty, at $base:expr;)+) => {
        #[inline]
        fn nested<R: $crate::table::Record>(
            kind: u16,
            data: &[u8],
            start: usize,
            end: usize,
            slots: &mut [u16],
            rec: &mut R,
        ) -> $crate::error::Result<()> {
            match kind {
                $($kind => $crate::table::sub::<$schema, R>(kind, data, start, end, slots, $base, rec),)+
                _ => Ok(()),
            }
        }
    };
}
pub(crate) use index_nests;

/// What a walk reports about the bytes it read, for a [`Shape`] to remember: every attribute
/// header (its offset and value) and every nest handed to a [`Len::Nest`] check. The walk's
/// result is a function of exactly these, so a message that repeats them all has the same
/// table.
pub(crate) trait Record {
    /// The walk read header `hdr` at offset `off`.
    fn header(&mut self, off: usize, hdr: u32);
    /// The walk validated `data[start..end]` with `check`.
    fn check(&mut self, start: usize, end: usize, check: NestCheck);
}

/// A walk that remembers nothing (no cost after inlining).
pub(crate) struct Forget;

impl Record for Forget {
    #[inline(always)]
    fn header(&mut self, _off: usize, _hdr: u32) {}
    #[inline(always)]
    fn check(&mut self, _start: usize, _end: usize, _check: NestCheck) {}
}

/// Indexes sub-nest `kind` with schema `S` into `slots[base..base + S::SLOTS]`, clearing them
/// first: a repeated nest replaces the earlier one wholesale, as in the kernel.
#[inline]
pub(crate) fn sub<S: Schema, R: Record>(
    kind: u16,
    data: &[u8],
    start: usize,
    end: usize,
    slots: &mut [u16],
    base: usize,
    rec: &mut R,
) -> Result<()> {
    let run = slots
        .get_mut(base..base + S::SLOTS)
        .ok_or(Error::BadAttrLen {
            kind,
            nest: kind,
            len: end - start,
        })?;
    run.fill(0);
    walk::<S, R>(data, start, end, kind, S::RULES, run, rec).map(|_| ())
}

/// Walks the attributes in `data[start..end]` (a nest of type `nest`) once, checking every
/// attribute `rules` lists and recording it: type `k` goes to `slots[k - 1]`; the content of
/// a [`Len::Index`] nest goes through `S::nested`.
///
/// Unknown types (0 or above `rules.len()`) are skipped and stay reachable through
/// [`Table::attrs`]; returns whether there was one. When a type repeats, the last one wins,
/// as in the kernel's `nla_parse`.
#[inline]
fn walk<S: Schema, R: Record>(
    data: &[u8],
    start: usize,
    end: usize,
    nest: u16,
    rules: &[Len],
    slots: &mut [u16],
    rec: &mut R,
) -> Result<bool> {
    let data = data.get(..end).unwrap_or(data);
    let mut off = start;
    let mut unknown = false;
    // One pass, no iterator: this is the hottest loop of the decoder. A fixed-length
    // attribute costs a header read, two bounds tests, one comparison and a store.
    while off < data.len() {
        let Some(hdr) = data
            .get(off..off + 4)
            .and_then(|s| <&[u8; 4]>::try_from(s).ok())
        else {
            return Err(Error::Truncated {
                need: 4,
                have: data.len() - off,
            });
        };
        // One 4-byte load for `nla_len` and `nla_type` (both host-endian u16s).
        let hdr = u32::from_ne_bytes(*hdr);
        rec.header(off, hdr);
        let (len, kind) = split_header(hdr);
        let len = usize::from(len);
        let next = off + len;
        if len < 4 || next > data.len() {
            return Err(if len < 4 {
                Error::BadNlaLen { len: len as u16 }
            } else {
                Error::Truncated {
                    need: len,
                    have: data.len() - off,
                }
            });
        }
        let kind = kind & crate::consts::NLA_TYPE_MASK;
        let idx = usize::from(kind).wrapping_sub(1);
        // The last attribute may omit its trailing padding.
        let step = (next + 3) & !3;
        let Some(rule) = rules.get(idx) else {
            unknown = true;
            off = step;
            continue;
        };
        let plen = len - 4;
        if rule.exact != plen as u16 {
            // Not of the rule's exact length: an error, unless the rule takes any length.
            if rule.exact != ANY {
                return Err(Error::BadAttrLen {
                    kind,
                    nest,
                    len: plen,
                });
            }
            match rule.nest {
                Nest::No => {}
                Nest::Check(check) => {
                    check(data.get(off + 4..next).unwrap_or(&[]))?;
                    rec.check(off + 4, next, check);
                }
                Nest::Index => S::nested(kind, data, off + 4, next, slots, rec)?,
            }
        }
        if let Some(s) = slots.get_mut(idx) {
            // off + 4 <= 65535: the caller checked the length of `data`
            *s = (off + 4) as u16;
        }
        off = step;
    }
    Ok(unknown)
}

/// Splits an attribute header read as one host-endian `u32` into `(nla_len, nla_type)`.
#[inline(always)]
fn split_header(h: u32) -> (u16, u16) {
    if cfg!(target_endian = "little") {
        (h as u16, (h >> 16) as u16)
    } else {
        ((h >> 16) as u16, h as u16)
    }
}

/// The schema of a nest with no nest indexed in place: its rules are passed to the walk.
struct Flat;

impl Schema for Flat {
    const RULES: &'static [Len] = &[];
    const SLOTS: usize = 0;
}

/// Offsets of the known attributes of one nest (and of the nests it indexes in place).
/// Slot `k - 1` holds attribute type `k` of the outermost nest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a, const N: usize> {
    /// The bytes every slot points into: at most 65,535 (only a top-level message could be
    /// longer, since a nest's length is a u16, and the kernel never builds one).
    data: &'a [u8],
    /// Where the nest itself starts and ends within `data`.
    own: (u16, u16),
    /// Whether the nest holds an attribute type its rules do not list.
    unknown: bool,
    /// The offset of each known attribute's payload, 0 when absent (a payload starts at
    /// offset 4 or later); its length is in the attribute header just before it.
    slots: [u16; N],
}

impl<'a, const N: usize> Table<'a, N> {
    /// Walks `data` once, checking every attribute listed in `spec` (type `k` at `spec[k-1]`):
    /// for a nest that indexes no nest in place.
    #[inline]
    pub(crate) fn parse(data: &'a [u8], nest: u16, spec: &[Len; N]) -> Result<Self> {
        Self::build::<Flat>(data, nest, spec)
    }

    /// Walks `data` once with the rules of schema `S`, which must fill at most `N` slots.
    #[inline(always)]
    pub(crate) fn parse_nested<S: Schema>(data: &'a [u8], nest: u16) -> Result<Self> {
        const { assert!(S::SLOTS <= N) };
        Self::build::<S>(data, nest, S::RULES)
    }

    #[inline(always)]
    fn build<S: Schema>(data: &'a [u8], nest: u16, rules: &[Len]) -> Result<Self> {
        Self::build_with(data, nest, |slots| {
            walk::<S, Forget>(data, 0, data.len(), nest, rules, slots, &mut Forget)
        })
    }

    /// Builds the table of `data`, whose slots `fill` fills (returning whether there was an
    /// unknown attribute type).
    #[inline(always)]
    fn build_with(
        data: &'a [u8],
        nest: u16,
        fill: impl FnOnce(&mut [u16; N]) -> Result<bool>,
    ) -> Result<Self> {
        let Ok(len) = u16::try_from(data.len()) else {
            return Err(Error::BadAttrLen {
                kind: 0,
                nest,
                len: data.len(),
            });
        };
        // Built in its final place: the table is a few hundred bytes, and a copy of what
        // was just written in 2-byte stores stalls on store forwarding.
        let mut r = Ok(Table {
            data,
            own: (0, len),
            unknown: false,
            slots: [0; N],
        });
        if let Ok(t) = &mut r {
            t.unknown = fill(&mut t.slots)?;
        }
        r
    }

    /// Like [`Table::parse_nested`], but a message that repeats the headers of one of the
    /// `shapes` gets that shape's table without a walk (see `shape.rs`); a walked message
    /// may be remembered.
    #[inline]
    pub(crate) fn parse_shaped<S: Schema, const W: usize>(
        data: &'a [u8],
        nest: u16,
        shapes: &mut Shapes<N, W>,
    ) -> Result<Self> {
        const { assert!(S::SLOTS <= N) };
        Self::build_with(data, nest, |slots| {
            if let Some(s) = shapes.find(data).and_then(|i| shapes.get(i)) {
                *slots = s.slots;
                return Ok(s.unknown);
            }
            let unknown = match shapes.start(data.len()) {
                Some(rec) => walk::<S, Shape<N>>(data, 0, data.len(), nest, S::RULES, slots, rec)?,
                None => {
                    return walk::<S, Forget>(
                        data,
                        0,
                        data.len(),
                        nest,
                        S::RULES,
                        slots,
                        &mut Forget,
                    );
                }
            };
            shapes.keep(data, unknown, slots);
            Ok(unknown)
        })
    }

    /// Returns the table of the nest in slot `at`, whose own attributes were indexed from
    /// slot `base` (its rule was [`Len::Index`] and its schema put it there), if present.
    #[inline]
    pub(crate) fn sub<const M: usize>(&self, at: usize, base: usize) -> Option<Table<'a, M>> {
        let start = self.slot(at)?;
        let len = self.len_at(start)?;
        let mut slots = [0; M];
        slots.copy_from_slice(self.slots.get(base..base + M)?);
        Some(Table {
            data: self.data,
            own: (start as u16, (start + len) as u16),
            // A sub-table's unknown attributes are not tracked: report them as possible.
            unknown: true,
            slots,
        })
    }

    /// Returns the payload offset in slot `idx`, if filled.
    #[inline]
    fn slot(&self, idx: usize) -> Option<usize> {
        match *self.slots.get(idx)? {
            0 => None,
            off => Some(usize::from(off)),
        }
    }

    /// Returns the payload length of the attribute whose payload starts at `off`.
    #[inline]
    fn len_at(&self, off: usize) -> Option<usize> {
        let hdr = self.data.get(off.checked_sub(4)?..off - 2)?;
        Some(usize::from(u16::from_ne_bytes(hdr.try_into().ok()?)).saturating_sub(4))
    }

    /// Returns the payload in slot `idx`, if filled.
    #[inline]
    pub(crate) fn get_idx(&self, idx: usize) -> Option<&'a [u8]> {
        let off = self.slot(idx)?;
        self.data.get(off..off + self.len_at(off)?)
    }

    /// Returns the first `len` bytes of the payload in slot `idx`, if filled: for an attribute
    /// whose rule is `Len::Exact(len)`, the whole payload, without reading its header.
    #[inline]
    pub(crate) fn get_idx_exact(&self, idx: usize, len: usize) -> Option<&'a [u8]> {
        let off = self.slot(idx)?;
        self.data.get(off..off + len)
    }

    /// Returns the payload of attribute type `kind` of the outermost nest, if present.
    #[inline]
    pub(crate) fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.get_idx(usize::from(kind).wrapping_sub(1))
    }

    /// Returns the payload of attribute type `kind`, whose rule is `Len::Exact(len)`.
    #[inline]
    pub(crate) fn get_exact(&self, kind: u16, len: usize) -> Option<&'a [u8]> {
        self.get_idx_exact(usize::from(kind).wrapping_sub(1), len)
    }

    /// Returns whether attribute type `kind` is present.
    #[inline]
    pub(crate) fn has(&self, kind: u16) -> bool {
        self.slot(usize::from(kind).wrapping_sub(1)).is_some()
    }

    /// Returns all attributes of the nest, known and unknown, in wire order.
    #[inline]
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        Attrs::new(self.bytes())
    }

    /// Returns the attributes of the nest whose types its rules do not list (0 or above
    /// `max`), in wire order; without a second walk when the first saw none.
    #[inline]
    pub(crate) fn unknown(&self, max: u16) -> impl Iterator<Item = crate::Attr<'a>> + 'a {
        let bytes = if self.unknown { self.bytes() } else { &[] };
        Attrs::new(bytes)
            .filter_map(|a| a.ok())
            .filter(move |a| a.kind() == 0 || a.kind() > max)
    }

    /// Returns the raw bytes of the nest.
    #[inline]
    pub(crate) fn bytes(&self) -> &'a [u8] {
        let (start, end) = self.own;
        self.data
            .get(usize::from(start)..usize::from(end))
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Inner;
    impl Schema for Inner {
        const RULES: &'static [Len] = &[Len::Exact(1), Len::Exact(2)];
        const SLOTS: usize = 2;
    }
    struct Outer;
    impl Schema for Outer {
        const RULES: &'static [Len] = &[Len::Index, Len::Exact(4)];
        const SLOTS: usize = 4;
        index_nests! {
            1 => Inner, at 2;
        }
    }

    #[test]
    fn indexes_nests_in_place_and_copies_them_out() {
        // outer: 1 = nest { 1: u8 7, 2: u16 }, 2: u32
        let b = [
            20, 0, 1, 0x80, 5, 0, 1, 0, 7, 0, 0, 0, 6, 0, 2, 0, 1, 2, 0, 0, 8, 0, 2, 0, 1, 2, 3, 4,
        ];
        let t = Table::<4>::parse_nested::<Outer>(&b, 0).unwrap();
        assert_eq!(t.get(2), Some(&[1u8, 2, 3, 4][..]));
        let sub = t.sub::<2>(0, 2).unwrap();
        assert_eq!(sub.get(1), Some(&[7u8][..]));
        assert_eq!(sub.get(2), Some(&[1u8, 2][..]));
        assert_eq!(sub.bytes(), &b[4..20]);
        assert_eq!(sub.attrs().count(), 2);
    }

    #[test]
    fn a_repeated_nest_replaces_the_first_wholesale() {
        // outer 1 = { 1: u8 7 }, then outer 1 = { 2: u16 } again: the u8 must be gone.
        let b = [
            12, 0, 1, 0x80, 5, 0, 1, 0, 7, 0, 0, 0, 12, 0, 1, 0x80, 6, 0, 2, 0, 1, 2, 0, 0,
        ];
        let t = Table::<4>::parse_nested::<Outer>(&b, 0).unwrap();
        let sub = t.sub::<2>(0, 2).unwrap();
        assert_eq!(sub.get(1), None);
        assert_eq!(sub.get(2), Some(&[1u8, 2][..]));
    }

    #[test]
    fn a_bad_length_inside_an_indexed_nest_names_that_nest() {
        let b = [12, 0, 1, 0x80, 6, 0, 1, 0, 7, 7, 0, 0];
        assert_eq!(
            Table::<4>::parse_nested::<Outer>(&b, 0).unwrap_err(),
            Error::BadAttrLen {
                kind: 1,
                nest: 1,
                len: 2
            }
        );
    }
}
