//! The codec's one error type.

use core::fmt;

/// What went wrong while parsing or emitting ctnetlink bytes.
///
/// Small and `Copy`: parsers return it by value and it never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a header or payload did: `need` bytes were needed, `have` remained.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A netlink message header announced a length shorter than the header itself.
    BadMsgLen {
        /// The announced `nlmsg_len`.
        len: u32,
    },
    /// An attribute of a known type had a payload length its type does not allow.
    BadAttrLen {
        /// The attribute type (`NLA_F_*` bits masked off), in the nest `nest`.
        kind: u16,
        /// The nest the attribute lives in (the parent attribute type, 0 at top level).
        nest: u16,
        /// The payload length found.
        len: usize,
    },
    /// An attribute header announced a length shorter than the attribute header.
    BadNlaLen {
        /// The announced `nla_len`.
        len: u16,
    },
    /// The output buffer is too small: `need` bytes were needed in all.
    BufferTooSmall {
        /// Total bytes needed.
        need: usize,
    },
    /// A value does not fit the wire format (for example a nest longer than 65,535 bytes).
    ValueTooLarge {
        /// The attribute type being emitted.
        kind: u16,
    },
    /// A message was not of the kind the caller asked to view it as.
    WrongMessage {
        /// The `nlmsg_type` found.
        nlmsg_type: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { need, have } => {
                write!(f, "truncated input: needed {need} bytes, {have} left")
            }
            Error::BadMsgLen { len } => write!(f, "netlink message length {len} is invalid"),
            Error::BadAttrLen { kind, nest, len } => write!(
                f,
                "attribute {kind} in nest {nest} has invalid payload length {len}"
            ),
            Error::BadNlaLen { len } => write!(f, "attribute header length {len} is invalid"),
            Error::BufferTooSmall { need } => {
                write!(f, "output buffer too small: {need} bytes needed")
            }
            Error::ValueTooLarge { kind } => {
                write!(f, "value of attribute {kind} does not fit the wire format")
            }
            Error::WrongMessage { nlmsg_type } => {
                write!(f, "unexpected message type {nlmsg_type:#06x}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// The codec's result type.
pub type Result<T> = core::result::Result<T, Error>;
