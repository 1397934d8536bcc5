//! The emitter: writes netlink messages and attributes into a caller's buffer.
//!
//! Writing past the end of the buffer never panics: the emitter keeps counting, and
//! [`Emitter::finish`] reports [`Error::BufferTooSmall`] with the total size that was needed.
//! An emitter over an empty buffer therefore measures what a message needs.

use crate::consts::{NFNETLINK_V0, NLA_F_NESTED, NLA_HDRLEN, NLMSG_HDRLEN};
use crate::error::{Error, Result};

/// Writes netlink messages and attributes into a byte buffer.
#[derive(Debug)]
pub struct Emitter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    error: Option<Error>,
}

/// Marks the start of a message or nest so its length can be back-patched.
#[derive(Debug, Clone, Copy)]
#[must_use = "pass the mark to end_message or end_nest"]
pub struct Mark(usize);

impl<'b> Emitter<'b> {
    /// Creates an emitter writing from the start of `buf`.
    #[inline]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Emitter {
            buf,
            pos: 0,
            error: None,
        }
    }

    /// Returns the number of bytes written (or needed) so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Returns whether nothing has been written yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Returns the length written, or the first error (for a short buffer,
    /// [`Error::BufferTooSmall`] with the total length needed).
    #[inline]
    pub fn finish(self) -> Result<usize> {
        match self.error {
            Some(e) => Err(e),
            None if self.pos > self.buf.len() => Err(Error::BufferTooSmall { need: self.pos }),
            None => Ok(self.pos),
        }
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// Writes a fixed number of bytes: one store after inlining, no `memcpy` call.
    #[inline(always)]
    fn write_array<const N: usize>(&mut self, bytes: [u8; N]) {
        let end = self.pos + N;
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(&bytes);
        }
        self.pos = end;
    }

    /// Writes an attribute header.
    #[inline(always)]
    fn write_nla_header(&mut self, len: u16, kind: u16) {
        self.write_array(nla_header(len, kind));
    }

    /// Pads to the next 4-byte boundary with zeros, with fixed-size stores (a `memset` call
    /// for 1 to 3 bytes cost more than the rest of a small attribute). Never writes past the
    /// boundary.
    #[inline(always)]
    fn pad(&mut self) {
        match self.pos & 3 {
            1 => self.write_array([0; 3]),
            2 => self.write_array([0; 2]),
            3 => self.write_array([0; 1]),
            _ => {}
        }
    }

    #[inline]
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Starts a netfilter message: `nlmsghdr` then `nfgenmsg` (version 0, `res_id` big-endian).
    #[inline]
    pub fn begin_message(
        &mut self,
        nlmsg_type: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
    ) -> Mark {
        self.begin_message_version(nlmsg_type, flags, seq, family, NFNETLINK_V0, res_id)
    }

    /// Starts a netfilter message with an explicit `nfgenmsg.version` (ctnetlink reads a
    /// non-zero version on a flush as "honour the family").
    #[inline]
    pub fn begin_message_version(
        &mut self,
        nlmsg_type: u16,
        flags: u16,
        seq: u32,
        family: u8,
        version: u8,
        res_id: u16,
    ) -> Mark {
        self.pad();
        let start = self.pos;
        let [t0, t1] = nlmsg_type.to_ne_bytes();
        let [f0, f1] = flags.to_ne_bytes();
        let [s0, s1, s2, s3] = seq.to_ne_bytes();
        let [r0, r1] = res_id.to_be_bytes();
        // nlmsg_len (patched by end_message), type, flags, seq, nlmsg_pid 0 (the kernel fills
        // in the sender), then nfgenmsg.
        self.write_array([
            0, 0, 0, 0, t0, t1, f0, f1, s0, s1, s2, s3, 0, 0, 0, 0, family, version, r0, r1,
        ]);
        Mark(start)
    }

    /// Ends a message started with [`Self::begin_message`], writing its length.
    #[inline]
    pub fn end_message(&mut self, mark: Mark) {
        self.pad();
        let len = self.pos - mark.0;
        match u32::try_from(len) {
            Ok(l) if len >= NLMSG_HDRLEN => self.patch(mark.0, &l.to_ne_bytes()),
            _ => self.error = self.error.or(Some(Error::BadMsgLen { len: u32::MAX })),
        }
    }

    /// Writes one attribute with the given payload.
    #[inline]
    pub fn put(&mut self, kind: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        let Ok(l) = u16::try_from(len) else {
            self.error = self.error.or(Some(Error::ValueTooLarge { kind }));
            return;
        };
        self.write_nla_header(l, kind);
        self.write(payload);
        self.pad();
    }

    /// Writes one attribute with a fixed-size payload (an address, a number): the same bytes
    /// as [`Self::put`], written with fixed-size stores.
    #[inline(always)]
    pub fn put_array<const N: usize>(&mut self, kind: u16, payload: [u8; N]) {
        let Ok(l) = u16::try_from(NLA_HDRLEN + N) else {
            self.error = self.error.or(Some(Error::ValueTooLarge { kind }));
            return;
        };
        let hdr = nla_header(l, kind);
        // Every attribute starts 4-aligned (each write of this emitter ends aligned), so the
        // padding depends on N alone.
        debug_assert_eq!(self.pos & 3, 0);
        if N <= 4 {
            // Header, payload and padding in one 8-byte store (4 for an empty payload).
            let mut p = [0u8; 4];
            if let Some(d) = p.get_mut(..N) {
                d.copy_from_slice(&payload);
            }
            let [h0, h1, h2, h3] = hdr;
            let [p0, p1, p2, p3] = p;
            if N == 0 {
                self.write_array(hdr);
            } else {
                self.write_array([h0, h1, h2, h3, p0, p1, p2, p3]);
            }
            return;
        }
        if N <= 16 {
            // Header, payload and padding in one write of a size known at compile time (one
            // bounds check, a few stores), rather than three writes.
            let mut a = [0u8; 20];
            if let Some(h) = a.get_mut(..4) {
                h.copy_from_slice(&hdr);
            }
            if let Some(d) = a.get_mut(4..4 + N) {
                d.copy_from_slice(&payload);
            }
            self.write(a.get(..(NLA_HDRLEN + N + 3) & !3).unwrap_or(&[]));
            return;
        }
        self.write_array(hdr);
        self.write_array(payload);
        match N & 3 {
            1 => self.write_array([0; 3]),
            2 => self.write_array([0; 2]),
            3 => self.write_array([0; 1]),
            _ => {}
        }
    }

    /// Writes a `u8` attribute.
    #[inline]
    pub fn put_u8(&mut self, kind: u16, v: u8) {
        self.put_array(kind, [v]);
    }

    /// Writes a big-endian `u16` attribute.
    #[inline]
    pub fn put_u16_be(&mut self, kind: u16, v: u16) {
        self.put_array(kind, v.to_be_bytes());
    }

    /// Writes a big-endian `u32` attribute.
    #[inline]
    pub fn put_u32_be(&mut self, kind: u16, v: u32) {
        self.put_array(kind, v.to_be_bytes());
    }

    /// Writes a host-endian `u32` attribute (used by the few host-order ctnetlink attributes,
    /// such as the `CTA_FILTER` flags).
    #[inline]
    pub fn put_u32_ne(&mut self, kind: u16, v: u32) {
        self.put_array(kind, v.to_ne_bytes());
    }

    /// Writes a big-endian `u64` attribute.
    #[inline]
    pub fn put_u64_be(&mut self, kind: u16, v: u64) {
        self.put_array(kind, v.to_be_bytes());
    }

    /// Writes a NUL-terminated string attribute.
    #[inline]
    pub fn put_str(&mut self, kind: u16, s: &str) {
        let len = NLA_HDRLEN + s.len() + 1;
        let Ok(l) = u16::try_from(len) else {
            self.error = self.error.or(Some(Error::ValueTooLarge { kind }));
            return;
        };
        self.write_nla_header(l, kind);
        self.write(s.as_bytes());
        self.write_array([0]);
        self.pad();
    }

    /// Writes an empty (flag) attribute.
    #[inline]
    pub fn put_flag(&mut self, kind: u16) {
        self.put_array(kind, []);
    }

    /// Starts a nest of type `kind`; `NLA_F_NESTED` is set.
    #[inline]
    pub fn begin_nest(&mut self, kind: u16) -> Mark {
        let start = self.pos;
        self.write_nla_header(0, kind | NLA_F_NESTED);
        Mark(start)
    }

    /// Ends a nest, back-patching its length. (No padding: every write of this emitter ends
    /// 4-aligned, so the nest does.)
    #[inline]
    pub fn end_nest(&mut self, mark: Mark) {
        debug_assert_eq!(self.pos & 3, 0);
        let len = self.pos - mark.0;
        match u16::try_from(len) {
            Ok(l) => self.patch(mark.0, &l.to_ne_bytes()),
            Err(_) => self.error = self.error.or(Some(Error::ValueTooLarge { kind: 0 })),
        }
    }

    /// Writes a nest whose content is written by `f`.
    #[inline]
    pub fn nest(&mut self, kind: u16, f: impl FnOnce(&mut Self)) {
        let m = self.begin_nest(kind);
        f(self);
        self.end_nest(m);
    }
}

/// The bytes of an attribute header (`nla_len`, `nla_type`, both host-endian), built as one
/// `u32` so that it is one store.
#[inline(always)]
fn nla_header(len: u16, kind: u16) -> [u8; 4] {
    let (len, kind) = (u32::from(len), u32::from(kind));
    if cfg!(target_endian = "little") {
        (len | kind << 16).to_ne_bytes()
    } else {
        (len << 16 | kind).to_ne_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_buffer_reports_total_need_without_panicking() {
        let mut buf = [0xa5u8; 10];
        let mut e = Emitter::new(&mut buf);
        let m = e.begin_message(0x0101, 1, 7, 2, 0);
        e.put_u32_be(8, 42);
        e.end_message(m);
        assert_eq!(e.finish(), Err(Error::BufferTooSmall { need: 28 }));
    }

    #[test]
    fn nest_sets_flag_patches_length_and_zeroes_padding() {
        let mut buf = [0xa5u8; 16];
        let mut e = Emitter::new(&mut buf);
        e.nest(1, |e| e.put_u8(2, 9));
        assert_eq!(e.finish(), Ok(12));
        assert_eq!(&buf[..12], &[12, 0, 1, 0x80, 5, 0, 2, 0, 9, 0, 0, 0]);
        assert_eq!(buf[12], 0xa5);
    }

    #[test]
    fn measuring_with_an_empty_buffer() {
        let mut e = Emitter::new(&mut []);
        e.put_str(1, "ftp");
        assert_eq!(e.finish(), Err(Error::BufferTooSmall { need: 8 }));
    }
}
