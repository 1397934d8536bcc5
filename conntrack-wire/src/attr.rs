//! Netlink attributes (TLVs): one borrowed [`Attr`] and the [`Attrs`] iterator.

use crate::consts::{NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK};
use crate::error::{Error, Result};
use crate::header::{NlAttr, align};
use zerocopy::FromBytes;

/// One attribute, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attr<'a> {
    kind: u16,
    raw_type: u16,
    payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// Returns the attribute type with the `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` bits masked off.
    #[inline]
    pub fn kind(&self) -> u16 {
        self.kind
    }

    /// Returns whether the sender set `NLA_F_NESTED` (informational only: ctnetlink does not
    /// always set it, so nesting is decided by the attribute type).
    #[inline]
    pub fn is_nested_flag(&self) -> bool {
        self.raw_type & NLA_F_NESTED != 0
    }

    /// Returns whether the sender set `NLA_F_NET_BYTEORDER` (informational only: byte order is
    /// decided by the attribute type, never by this flag).
    #[inline]
    pub fn is_net_byteorder_flag(&self) -> bool {
        self.raw_type & NLA_F_NET_BYTEORDER != 0
    }

    /// Returns the payload, without header and padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Returns an iterator over the attributes nested in this one.
    #[inline]
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// Iterates the attributes of a byte run, stepping by 4-byte alignment.
///
/// Yields `Err` once for a malformed attribute and then fuses (yields `None` forever).
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// Creates an iterator over the attributes in `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Attrs {
            rest: bytes,
            failed: false,
        }
    }

    /// Returns the bytes not yet walked.
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let Ok((hdr, _)) = NlAttr::ref_from_prefix(self.rest) else {
            self.failed = true;
            return Some(Err(Error::Truncated {
                need: NLA_HDRLEN,
                have: self.rest.len(),
            }));
        };
        let len = usize::from(hdr.nla_len.get());
        if len < NLA_HDRLEN {
            self.failed = true;
            return Some(Err(Error::BadNlaLen {
                len: hdr.nla_len.get(),
            }));
        }
        let (Some(payload), Some(_)) = (self.rest.get(NLA_HDRLEN..len), self.rest.get(..len))
        else {
            self.failed = true;
            return Some(Err(Error::Truncated {
                need: len,
                have: self.rest.len(),
            }));
        };
        // The last attribute of a message may omit its trailing padding.
        self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
        let raw_type = hdr.nla_type.get();
        Some(Ok(Attr {
            kind: raw_type & NLA_TYPE_MASK,
            raw_type,
            payload,
        }))
    }
}

impl core::iter::FusedIterator for Attrs<'_> {}

/// Reads a big-endian `u16` from a payload of exactly 2 bytes.
#[inline]
pub(crate) fn be_u16(p: &[u8]) -> Option<u16> {
    p.try_into().ok().map(u16::from_be_bytes)
}

/// Reads a big-endian `u32` from a payload of exactly 4 bytes.
#[inline]
pub(crate) fn be_u32(p: &[u8]) -> Option<u32> {
    p.try_into().ok().map(u32::from_be_bytes)
}

/// Reads a big-endian `u64` from a payload of exactly 8 bytes.
#[inline]
pub(crate) fn be_u64(p: &[u8]) -> Option<u64> {
    p.try_into().ok().map(u64::from_be_bytes)
}

/// Reads a host-endian `u32` from a payload of exactly 4 bytes.
#[inline]
pub(crate) fn ne_u32(p: &[u8]) -> Option<u32> {
    p.try_into().ok().map(u32::from_ne_bytes)
}

/// Reads a `u8` from a payload of exactly 1 byte.
#[inline]
pub(crate) fn u8_(p: &[u8]) -> Option<u8> {
    match p {
        [b] => Some(*b),
        _ => None,
    }
}

/// Returns a NUL-terminated string payload without its terminator, if it is UTF-8.
#[inline]
pub(crate) fn cstr(p: &[u8]) -> Option<&str> {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    core::str::from_utf8(p.get(..end)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_padded_attributes_and_fuses_on_error() {
        // attr 1: u8 (len 5, padded to 8); attr 2: len 3 (< header) -> error
        let bytes = [5, 0, 1, 0, 7, 0, 0, 0, 3, 0, 2, 0];
        let mut it = Attrs::new(&bytes);
        let a = it.next().unwrap().unwrap();
        assert_eq!((a.kind(), a.payload()), (1, &[7u8][..]));
        assert_eq!(it.next(), Some(Err(Error::BadNlaLen { len: 3 })));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn masks_flags_and_reports_them() {
        let bytes = [4, 0, 0x02, 0xc0];
        let a = Attrs::new(&bytes).next().unwrap().unwrap();
        assert_eq!(a.kind(), 2);
        assert!(a.is_nested_flag());
        assert!(a.is_net_byteorder_flag());
    }

    #[test]
    fn truncated_payload_is_an_error() {
        let bytes = [8, 0, 1, 0, 1, 2];
        assert_eq!(
            Attrs::new(&bytes).next(),
            Some(Err(Error::Truncated { need: 8, have: 6 }))
        );
    }

    #[test]
    fn last_attribute_may_omit_padding() {
        let bytes = [5, 0, 1, 0, 9];
        let v: Vec<_> = Attrs::new(&bytes).collect();
        assert_eq!(v.len(), 1);
        assert!(v[0].is_ok());
    }
}
