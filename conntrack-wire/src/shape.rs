//! Remembered message layouts: the walk of a message whose attribute headers all repeat a
//! message walked before is replaced by a comparison of those headers.
//!
//! A table walk (see `table.rs`) is a chain of dependent loads: each attribute's offset is
//! the previous one's plus its length, so a message of 40 attributes costs 40 load latencies
//! in a row. Yet the kernel lays out the entries of one kind (say, IPv4 UDP with counters,
//! timestamps and labels) identically: same attributes, same lengths, same offsets. A
//! [`Shape`] records what a successful walk read (every attribute header with its offset,
//! every nest handed to a check function, the message length) and the table it built. A
//! later message of the same length whose headers at those offsets are all equal would be
//! walked identically, header by header, so it gets the same table: the comparison loads are
//! independent of each other and run in parallel. Nests validated by a check function are
//! checked again (their content is not covered by the headers the walk read).
//!
//! A message that differs anywhere, or one with more headers than a shape holds, is walked
//! as usual; a successful walk of a length walked recently replaces the oldest of the
//! remembered shapes (a layout seen once is not worth the cost of recording it).

use crate::table::{NestCheck, Record};

/// The most attribute headers one shape remembers (a conntrack entry has about 20 to 60).
const HEADERS: usize = 64;
/// The most nests with a check function one shape remembers.
const CHECKS: usize = 4;

/// The layout of one message as one successful walk read it, and the table it built.
#[derive(Clone, Copy)]
pub(crate) struct Shape<const N: usize> {
    /// Headers recorded; `HEADERS + 1` once more were read than fit.
    count: usize,
    /// Checked nests recorded; `CHECKS + 1` once more were seen than fit.
    checks: usize,
    offs: [u16; HEADERS],
    hdrs: [u32; HEADERS],
    nests: [(u16, u16, Option<NestCheck>); CHECKS],
    /// Whether the walk met an attribute type its rules do not list.
    pub(crate) unknown: bool,
    /// The table the walk built.
    pub(crate) slots: [u16; N],
}

impl<const N: usize> Shape<N> {
    const EMPTY: Shape<N> = Shape {
        count: 0,
        checks: 0,
        offs: [0; HEADERS],
        hdrs: [0; HEADERS],
        nests: [(0, 0, None); CHECKS],
        unknown: false,
        slots: [0; N],
    };

    /// Returns whether a walk of `data` would read exactly the headers this shape recorded
    /// (the caller has compared the length).
    #[inline]
    fn matches(&self, data: &[u8]) -> bool {
        let (Some(offs), Some(hdrs)) = (self.offs.get(..self.count), self.hdrs.get(..self.count))
        else {
            return false;
        };
        // No early exit: the loads are independent, so they overlap; one test at the end.
        let mut diff = 0;
        for (&off, &hdr) in offs.iter().zip(hdrs) {
            let off = usize::from(off);
            match data.get(off..off + 4) {
                Some(&[a, b, c, d]) => diff |= u32::from_ne_bytes([a, b, c, d]) ^ hdr,
                _ => return false,
            }
        }
        diff == 0
            && self.nests.get(..self.checks).is_some_and(|nests| {
                nests.iter().all(|&(start, end, check)| {
                    let content = data.get(usize::from(start)..usize::from(end));
                    matches!((content, check), (Some(c), Some(f)) if f(c).is_ok())
                })
            })
    }

    /// Completes a shape recorded by a successful walk of `data`: reads the headers at the
    /// recorded offsets. Returns whether everything the walk read fit in the shape.
    fn complete(&mut self, data: &[u8]) -> bool {
        if self.count > HEADERS || self.checks > CHECKS {
            return false;
        }
        let (Some(offs), Some(hdrs)) =
            (self.offs.get(..self.count), self.hdrs.get_mut(..self.count))
        else {
            return false;
        };
        for (&off, hdr) in offs.iter().zip(hdrs) {
            let off = usize::from(off);
            match data.get(off..off + 4) {
                Some(&[a, b, c, d]) => *hdr = u32::from_ne_bytes([a, b, c, d]),
                _ => return false,
            }
        }
        true
    }
}

impl<const N: usize> Record for Shape<N> {
    /// Only the offset: the headers are read again once the walk succeeded (loads
    /// independent of each other, cheaper than a second store in the walk's loop).
    #[inline(always)]
    fn header(&mut self, off: usize, _hdr: u32) {
        if let Some(o) = self.offs.get_mut(self.count) {
            // off < 65,536: the walk only runs over data of at most u16::MAX bytes
            *o = off as u16;
            self.count += 1;
        } else {
            self.count = HEADERS + 1;
        }
    }

    #[inline]
    fn check(&mut self, start: usize, end: usize, check: NestCheck) {
        if let Some(n) = self.nests.get_mut(self.checks) {
            *n = (start as u16, end as u16, Some(check));
            self.checks += 1;
        } else {
            self.checks = CHECKS + 1;
        }
    }
}

/// `W` remembered shapes of messages indexed into `N` slots, replaced oldest first.
///
/// The shapes live in a fixed array, `filled` of them in use (filled as messages are walked):
/// no allocation, whatever the target.
#[derive(Clone)]
pub(crate) struct Shapes<const N: usize, const W: usize> {
    /// The message length of each shape; 0 for none (an empty message is never
    /// remembered: it costs no walk).
    lens: [u16; W],
    ways: [Shape<N>; W],
    /// How many of `ways` hold a shape.
    filled: usize,
    /// The next shape to replace.
    next: usize,
    /// The lengths of the last `W` messages that matched no shape, and the next to replace.
    missed: [u16; W],
    next_missed: usize,
}

impl<const N: usize, const W: usize> Shapes<N, W> {
    /// No shape remembered.
    pub(crate) const fn new() -> Self {
        Shapes {
            lens: [0; W],
            ways: [Shape::EMPTY; W],
            filled: 0,
            next: 0,
            missed: [0; W],
            next_missed: 0,
        }
    }

    /// Returns the index of a remembered shape that `data` repeats, if any.
    #[inline]
    pub(crate) fn find(&self, data: &[u8]) -> Option<usize> {
        let len = u16::try_from(data.len()).ok().filter(|&l| l != 0)?;
        self.lens
            .iter()
            .zip(self.ways.get(..self.filled)?)
            .position(|(l, s)| *l == len && s.matches(data))
    }

    /// Returns shape `i`, if remembered.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Shape<N>> {
        self.ways.get(..self.filled)?.get(i)
    }

    /// Returns the shape to record the walk of a message [`Shapes::find`] did not know
    /// into, emptied and forgotten until [`Shapes::keep`]; `None` when the walk is better
    /// not recorded. A layout is recorded the second time a message of its length is walked
    /// within the last `W` unknown ones: a stream of layouts that never repeat (where
    /// recording would be pure cost) records nothing.
    #[inline]
    pub(crate) fn start(&mut self, len: usize) -> Option<&mut Shape<N>> {
        let len = u16::try_from(len).ok()?;
        if !self.missed.contains(&len) {
            let j = self.next_missed % W;
            *self.missed.get_mut(j)? = len;
            self.next_missed = (j + 1) % W;
            return None;
        }
        let i = self.next % W;
        *self.lens.get_mut(i)? = 0;
        if i == self.filled {
            self.filled += 1;
        }
        let s = self.ways.get_mut(i)?;
        s.count = 0;
        s.checks = 0;
        Some(s)
    }

    /// Keeps the shape [`Shapes::start`] handed out, recorded by a successful walk of
    /// `data` that built `slots`.
    #[inline]
    pub(crate) fn keep(&mut self, data: &[u8], unknown: bool, slots: &[u16; N]) {
        let i = self.next % W;
        let (Some(l), Some(s), Ok(len)) = (
            self.lens.get_mut(i),
            self.ways.get_mut(i),
            u16::try_from(data.len()),
        ) else {
            return;
        };
        if len != 0 && s.complete(data) {
            s.unknown = unknown;
            s.slots = *slots;
            *l = len;
            self.next = (i + 1) % W;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of `n` four-byte attribute headers, each of type `kind + i`.
    fn msg(n: usize, kind: u16) -> [u8; 64] {
        let mut m = [0u8; 64];
        for (i, h) in m.chunks_exact_mut(4).take(n).enumerate() {
            h[..2].copy_from_slice(&4u16.to_ne_bytes());
            h[2..].copy_from_slice(&(kind + i as u16).to_ne_bytes());
        }
        m
    }

    /// Records `data` as a walk would: a header at every four bytes.
    fn record<const W: usize>(shapes: &mut Shapes<2, W>, data: &[u8], slots: [u16; 2]) -> bool {
        let Some(s) = shapes.start(data.len()) else {
            return false;
        };
        for off in (0..data.len()).step_by(4) {
            s.header(off, 0);
        }
        shapes.keep(data, false, &slots);
        true
    }

    #[test]
    fn a_layout_is_remembered_the_second_time_its_length_is_walked() {
        let mut shapes = Shapes::<2, 4>::new();
        let a = msg(4, 10);
        let data = &a[..16];
        assert_eq!(shapes.find(data), None);
        assert!(
            !record(&mut shapes, data, [1, 2]),
            "the first walk is not recorded"
        );
        assert!(record(&mut shapes, data, [1, 2]));
        let i = shapes.find(data).expect("remembered");
        assert_eq!(shapes.get(i).map(|s| s.slots), Some([1, 2]));
        // The same length with one header changed is not the same layout.
        let b = msg(4, 11);
        assert_eq!(shapes.find(&b[..16]), None);
        // Nor is a prefix, nor an empty message.
        assert_eq!(shapes.find(&a[..12]), None);
        assert_eq!(shapes.find(&[]), None);
    }

    #[test]
    fn the_oldest_layout_is_replaced_first() {
        const W: usize = 3;
        let mut shapes = Shapes::<2, W>::new();
        // W + 1 layouts of different lengths, each walked twice (recorded the second time).
        let layouts: [([u8; 64], usize); W + 1] =
            core::array::from_fn(|i| (msg(i + 2, 1), 4 * (i + 2)));
        for (i, (m, len)) in layouts.iter().enumerate() {
            record(&mut shapes, &m[..*len], [i as u16, 0]);
            assert!(record(&mut shapes, &m[..*len], [i as u16, 0]), "layout {i}");
        }
        let (first, len) = &layouts[0];
        assert_eq!(shapes.find(&first[..*len]), None, "the oldest was evicted");
        for (i, (m, len)) in layouts.iter().enumerate().skip(1) {
            let at = shapes.find(&m[..*len]).expect("a newer layout stays");
            assert_eq!(shapes.get(at).map(|s| s.slots[0]), Some(i as u16));
        }
    }

    #[test]
    fn a_walk_with_more_headers_than_a_shape_holds_is_not_kept() {
        let mut shapes = Shapes::<2, 2>::new();
        let data = [0u8; 4 * (HEADERS + 1)];
        assert!(shapes.start(data.len()).is_none());
        let s = shapes.start(data.len()).expect("second walk of the length");
        for off in (0..data.len()).step_by(4) {
            s.header(off, 0);
        }
        shapes.keep(&data, false, &[0, 0]);
        assert_eq!(shapes.find(&data), None);
    }
}
